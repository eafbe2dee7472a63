"""`vrl demo`: the main job on the embedded default, end to end.

Makes the demo data, runs the image pipeline and the RL pipeline, starts the
local TF-Serving-compatible server on the serving base they pushed to, and
sends one gRPC prediction and one action query through it.
"""

from __future__ import annotations

import argparse
import glob
import os

from vrl.help_format import DefaultsFormatter

IMAGE_MODEL = "image_classifier"


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
    from vrl.cli import build_parser

    parser = build_parser()

    def vrl(*argv: str) -> None:
        parsed = parser.parse_args(list(argv))
        code = parsed.func(parsed)
        if code:
            raise SystemExit(f"`vrl {' '.join(argv)}` failed with exit code {code}")

    home = os.path.abspath(args.home)
    data = os.path.join(home, "data", args.dataset)
    serving_base = os.path.join(home, "serving")
    if not os.path.isdir(data):
        _step(f"1/4 demo data: {args.dataset}")
        vrl("data", args.dataset, "--out", data)
    _step("2/4 image pipeline")
    vrl("run", "image", "--data", data, "--home", home)
    if not _has_versions(os.path.join(serving_base, IMAGE_MODEL)):
        raise SystemExit(
            f"the image model was not blessed, so nothing was pushed to {serving_base}; "
            "see the evaluation above"
        )
    policy_model = None
    if not args.skip_rl:
        _step(f"3/4 RL pipeline: {args.env}")
        vrl("run", "rl", "--env", args.env, "--home", home)
        from pipeline.rl_pipeline import default_model_name

        policy_model = default_model_name(args.env)
    _step("4/4 serving: local TF-Serving-compatible server, queried over gRPC")
    from serving.demo import query_pushed_models

    image = sorted(glob.glob(os.path.join(data, "*", "*")))[0]
    with open(image, "rb") as f:
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
    print(f"Predict {IMAGE_MODEL} v{answers.cnn_version} <- {os.path.relpath(image, data)}")
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
