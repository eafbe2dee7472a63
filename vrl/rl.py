"""`vrl run rl`: train, evaluate and push a DQN policy with the local runner.

Registered on the `vrl run` subcommands by `add_parser`; TensorFlow and TFX
are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import os

from vrl import tracking
from vrl.help_format import DefaultsFormatter

DEFAULT_HOME = "./runs"


def add_config_args(parser: argparse.ArgumentParser, cluster: bool = False) -> None:
    """The RlPipelineConfig flags, shared by `vrl run rl` and `vrl compile rl`."""
    import dataclasses
    import types

    from pipeline.rl_pipeline import RlPipelineConfig

    d = types.SimpleNamespace(
        **{
            f.name: f.default
            for f in dataclasses.fields(RlPipelineConfig)
            if f.default is not dataclasses.MISSING
        }
    )
    parser.add_argument(
        "--env",
        default=d.env_id,
        help="gymnasium id: discrete actions, a vector or uint8 image observation "
        "(e.g. MinAtar/Breakout-v1, ALE/Pong-v5)",
    )
    if cluster:
        parser.add_argument(
            "--serving-base", required=True, help="TF Serving model base as the pods see it"
        )
    else:
        parser.add_argument(
            "--home",
            default=DEFAULT_HOME,
            help="working folder; pipeline root is <home>/tfx/<pipeline>",
        )
        parser.add_argument(
            "--serving-base", default=None, help="TF Serving base path (default <home>/serving)"
        )
    parser.add_argument("--seed", type=int, default=d.seed, help="training seed")
    parser.add_argument("--steps", type=int, default=d.num_env_steps, help="env-step budget")
    parser.add_argument(
        "--preset",
        default=None,
        help="named DQN preset (an env id in models/dqn/config.PRESETS; default: the env's own)",
    )
    parser.add_argument(
        "--dqn",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override one DqnConfig field of the preset, repeatable (e.g. --dqn learning_rate=1e-3)",
    )
    parser.add_argument(
        "--eval-episodes", type=int, default=d.eval_episodes, help="PolicyEvaluator episodes"
    )
    parser.add_argument(
        "--eval-seed", type=int, default=d.eval_seed, help="seed of the first evaluation episode"
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="blessing threshold (default: env's)"
    )
    parser.add_argument(
        "--max-regression",
        type=float,
        default=d.max_regression,
        help="allowed drop below the served policy, fraction",
    )
    parser.add_argument(
        "--pipeline-name",
        default="",
        help="TFX pipeline name (default vrl-rl-<env>, e.g. vrl-rl-cartpole-v1)",
    )
    parser.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TensorFlow op determinism, so a seed repeats its run in any process "
        "(default: the preset's DqnConfig.deterministic, on; seeds are set either way)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every component again (default: off: TFX reuses a component's cached "
        "outputs when its inputs, code and parameters are unchanged)",
    )


def dqn_config_from_args(args: argparse.Namespace):
    """The preset (named or the env's own) with `--dqn FIELD=VALUE` overrides."""
    import dataclasses
    import json

    from models.dqn.config import PRESETS, DqnConfig, preset

    if args.preset is not None and args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset!r}: unknown; choose one of {sorted(PRESETS)}")
    base = dataclasses.asdict(preset(args.preset or args.env))
    for item in args.dqn:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--dqn {item!r}: expected FIELD=VALUE, e.g. learning_rate=1e-3")
        if key not in base:
            raise ValueError(
                f"--dqn {key}: unknown DqnConfig field; expected one of {sorted(base)}"
            )
        try:
            base[key] = json.loads(value)
        except json.JSONDecodeError:
            base[key] = value
    if args.deterministic is not None:
        base["deterministic"] = args.deterministic
    return DqnConfig.from_dict(base)


def config_from_args(args: argparse.Namespace, pipeline_root: str | None = None):
    """The frozen RlPipelineConfig from parsed flags (validated on construction)."""
    from pipeline.rl_pipeline import RlPipelineConfig, default_pipeline_name

    pipeline_name = args.pipeline_name or default_pipeline_name(args.env)
    if pipeline_root is None:  # local run: everything under --home
        home = os.path.abspath(args.home)
        pipeline_root = os.path.join(home, "tfx", pipeline_name)
        serving_base = os.path.abspath(args.serving_base or os.path.join(home, "serving"))
    else:
        serving_base = args.serving_base
    return RlPipelineConfig(
        pipeline_root=pipeline_root,
        serving_base=serving_base,
        pipeline_name=pipeline_name,
        env_id=args.env,
        seed=args.seed,
        num_env_steps=args.steps,
        dqn_config=dqn_config_from_args(args),
        eval_episodes=args.eval_episodes,
        eval_seed=args.eval_seed,
        threshold=args.threshold,
        max_regression=args.max_regression,
        enable_cache=not args.no_cache,
    )


def add_parser(run_subparsers: argparse._SubParsersAction) -> None:
    """Registers `rl` on the `vrl run` subparsers; sets `func=handler`."""
    parser = run_subparsers.add_parser(
        "rl",
        help="train a DQN policy on a gymnasium env, evaluate it and push it if blessed",
        description=__doc__,
        formatter_class=DefaultsFormatter,
    )
    add_config_args(parser)
    tracking.add_args(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Builds the config, runs the pipeline locally, prints the push result."""
    from pipeline.rl_pipeline import create_rl_pipeline
    from vrl import preflight
    from vrl.local import show_progress
    from vrl.runner import exclusive_run, local_metadata_config, run_local

    config = config_from_args(args)
    tracked = tracking.from_args(args)
    preflight.check_writable("home", config.pipeline_root)
    preflight.check_writable("serving_base", config.serving_base)
    preflight.check_env(config.env_id, config.dqn_config.replay_capacity)
    print(f"vrl run rl: {config.env_id}, {config.num_env_steps} env steps, seed {config.seed}")
    print(f"  pipeline root {config.pipeline_root}")
    show_progress()
    with exclusive_run(config.pipeline_root):
        run_local(
            create_rl_pipeline(
                config, metadata_connection_config=local_metadata_config(config.pipeline_root)
            )
        )
        status = report(config)
    tracking.print_run_folder(tracking.track_rl(tracked, config, os.path.abspath(args.home)))
    return status


def report(config) -> int:
    """Prints the newest evaluation and push of this pipeline.

    Returns 0 when the push matches the blessing (pushed if blessed, nothing
    pushed if not), 1 when no evaluation was found or a blessed policy was not
    pushed.
    """
    from vrl.results import custom_property, latest_artifact, open_store
    from vrl.runner import metadata_path

    store = open_store(metadata_path(config.pipeline_root))
    blessing = latest_artifact(store, "ModelBlessing")
    if blessing is None:
        print("vrl run rl: no PolicyEvaluator result found")
        return 1
    mean = custom_property(blessing, "mean_return")
    std = custom_property(blessing, "std_return")
    blessed = custom_property(blessing, "blessed") == 1
    print(
        f"  eval return {mean:.1f} +- {std:.1f} over {config.eval_episodes} episodes; blessed: {blessed}"
    )
    push = latest_artifact(store, "PushedModel")
    if push is None or custom_property(push, "pushed") != 1:
        print(f"  not pushed (serving base {config.serving_base}/{config.model_name})")
        return 1 if blessed else 0
    destination = custom_property(push, "pushed_destination")
    print(f"  pushed policy to {destination}")
    from vrl.report import print_run_report

    home = os.path.dirname(os.path.dirname(config.pipeline_root))  # <home>/tfx/<pipeline>
    print_run_report(destination, config.serving_base, home, config.pipeline_root)
    return 0
