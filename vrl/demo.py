"""`vrl demo`: the main job on the embedded default, end to end.

Makes the demo data, runs the image pipeline and the RL pipeline, starts the
local TF-Serving-compatible server on the serving base they pushed to, and
sends one gRPC prediction and one action query through it.

The RL pipeline runs alongside the image pipeline, as `vrl run rl` in a child
process whose output goes to `<home>/logs/rl-pipeline.log` and is shown when
the image pipeline is done: the two share no state (their own pipeline roots,
ML Metadata files and model folders), and most of the image pipeline's Beam
components keep one core busy, which leaves the other for the RL pipeline.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

from pipeline.image_config import ImagePipelineConfig
from pipeline.rl_config import default_model_name
from vrl import demo_data, image
from vrl.help_format import DefaultsFormatter

IMAGE_MODEL = ImagePipelineConfig.__dataclass_fields__["model_name"].default


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers `vrl demo`."""
    p = sub.add_parser(
        "demo",
        help="run the whole main job locally: data, both pipelines, serving",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("--home", default="runs/demo", help="working folder")
    p.add_argument("--dataset", default="shapes", choices=["shapes", "digits"], help="demo data")
    p.add_argument("--env", default="CartPole-v1", help="gymnasium id for the RL pipeline")
    p.add_argument("--skip-rl", action="store_true", help="image pipeline and serving only")
    p.set_defaults(func=_cmd_demo)


def _step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    home = os.path.abspath(args.home)
    data = os.path.join(home, "data", args.dataset)
    serving_base = os.path.join(home, "serving")
    # The RL child starts first: its start-up (importing TF-Agents, TFX and
    # TensorFlow) takes the second core while this process draws the demo data.
    rl_run = None if args.skip_rl else RlChild.start(args.env, home)
    try:
        if not os.path.isdir(data):
            _step(f"1/4 demo data: {args.dataset}")
            make = {"shapes": demo_data.make_shapes, "digits": demo_data.make_digits}
            print(f"wrote {make[args.dataset](data)}")
        # The trainer's defaults, as `vrl run image --data DATA` trains.
        image_config = ImagePipelineConfig(data_dir=data, home=home)
        _step(
            "2/4 image pipeline"
            + (f" (the RL pipeline runs alongside: {rl_run.log_path})" if rl_run else "")
        )
        _check(image.run(image_config), "the image pipeline")
        if not _has_versions(os.path.join(serving_base, image_config.model_name)):
            raise SystemExit(
                f"the image model was not blessed, so nothing was pushed to {serving_base}; "
                "see the evaluation above"
            )
    except BaseException:
        if rl_run:
            rl_run.stop()
        raise
    policy_model = None
    if rl_run:
        _step(f"3/4 RL pipeline: {args.env} (ran alongside the image pipeline)")
        _check(rl_run.finish(), "the RL pipeline")
        # The child names no model, so its config takes the env's default name.
        policy_model = default_model_name(args.env)
    _step("4/4 serving: local TF-Serving-compatible server, queried over gRPC")
    # Imported when the demo reaches serving (gRPC, TF Serving protos): `--help` stays fast.
    from serving.demo import query_pushed_models

    image_path = sorted(glob.glob(os.path.join(data, "*", "*")))[0]
    with open(image_path, "rb") as f:
        image_bytes = f.read()
    served_policy = (
        policy_model
        if policy_model and _has_versions(os.path.join(serving_base, policy_model))
        else None
    )
    observation = _first_observation(args.env) if served_policy else []
    answers = query_pushed_models(
        serving_base, IMAGE_MODEL, image_bytes, served_policy, observation
    )
    print(f"server on {answers.grpc_target} serving {serving_base}")
    print(f"Predict {IMAGE_MODEL} v{answers.cnn_version} <- {os.path.relpath(image_path, data)}")
    for label, p in answers.top_labels:
        print(f"  {label:<12} {p:.4f}")
    if served_policy:
        q = ", ".join(f"{v:.2f}" for v in answers.q_values)
        print(f"Predict {served_policy} v{answers.policy_version} <- observation {observation}")
        print(f"  action {answers.action} (q_values {q})")
    print(
        f"\nTry it yourself: vrl serve --model-base {serving_base}\n"
        f"  then: vrl predict --model {IMAGE_MODEL} IMAGE..."
        + (
            f"  /  vrl act --model {served_policy} --obs={','.join(map(str, observation))}"
            if served_policy
            else ""
        )
    )
    return 0


def rl_argv(env_id: str, home: str) -> list[str]:
    """The child's command line: the `vrl run rl` a user would type (the env's default
    model name, serving base `HOME/serving`)."""
    return [sys.executable, "-m", "vrl", "run", "rl", "--env", env_id, "--home", home]


CHILD_TF_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
"""TensorFlow's thread pools in the RL child: one thread each. The child is meant to
take one core beside the image pipeline, and the DQN's small ops gain nothing from
more: CartPole's training took 27.7 s of CPU against 37.9 s with TensorFlow's
defaults (one thread per core), the same learning curve (docs/performance.md)."""


def rl_env() -> dict[str, str]:
    """The child's environment: this process's, with `CHILD_TF_THREADS` where the user
    has not set those variables."""
    return {**CHILD_TF_THREADS, **os.environ}


class RlChild:
    """The RL pipeline running as a child `vrl run rl`, its output in a log file."""

    def __init__(self, process: subprocess.Popen, log_path: str) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    def start(cls, env_id: str, home: str) -> RlChild:
        """Starts `rl_argv(env_id, home)` in `rl_env()`, stdout and stderr into `<home>/logs`."""
        log_path = os.path.join(home, "logs", "rl-pipeline.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                rl_argv(env_id, home),
                env=rl_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return cls(process, log_path)

    def finish(self) -> int:
        """Waits for the child, prints its output, returns its exit code."""
        code = self.process.wait()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            sys.stdout.write(f.read())
        sys.stdout.flush()
        return code

    def stop(self) -> None:
        """Ends the child when the demo stops early (its log stays)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _check(code: int, what: str) -> None:
    """Stops the demo when a step did not do its job (a nonzero exit code)."""
    if code:
        raise SystemExit(f"{what} failed with exit code {code}")


def _first_observation(env_id: str) -> list[float]:
    """A real observation of the environment: its first state after reset(seed=0)."""
    import gymnasium

    env = gymnasium.make(env_id)
    try:
        observation, _ = env.reset(seed=0)
    finally:
        env.close()
    return [round(float(v), 4) for v in observation]


def _has_versions(model_dir: str) -> bool:
    """Whether a TF Serving model folder holds at least one servable version."""
    from serving.model_config import list_versions

    return bool(list_versions(model_dir))
