"""`vrl run rl`: train, evaluate and push a DQN policy with the local runner.

Registered on the `vrl run` subcommands by `add_parser`; TensorFlow and TFX
are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import os

DEFAULT_HOME = "./runs"


def add_parser(run_subparsers: argparse._SubParsersAction) -> None:
    """Registers `rl` on the `vrl run` subparsers; sets `func=handler`."""
    parser = run_subparsers.add_parser(
        "rl",
        help="train a DQN policy on a gymnasium env, evaluate it and push it if blessed",
        description=__doc__,
    )
    parser.add_argument(
        "--env", default="CartPole-v1", help="gymnasium id (discrete actions, vector observation)"
    )
    parser.add_argument(
        "--home",
        default=DEFAULT_HOME,
        help="working folder; pipeline root is <home>/tfx/<pipeline>",
    )
    parser.add_argument(
        "--serving-base", default=None, help="TF Serving base path (default <home>/serving)"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument(
        "--steps", type=int, default=None, help="env-step budget (default: the config's)"
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="named DQN preset (an env id in models/dqn/config.PRESETS; default: the env's own)",
    )
    parser.add_argument("--eval-episodes", type=int, default=20, help="PolicyEvaluator episodes")
    parser.add_argument(
        "--threshold", type=float, default=None, help="blessing threshold (default: env's)"
    )
    parser.add_argument(
        "--pipeline-name",
        default="",
        help="TFX pipeline name (default vrl-rl-<env>, e.g. vrl-rl-cartpole-v1)",
    )
    parser.add_argument("--no-cache", action="store_true", help="disable TFX caching")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Builds the config, runs the pipeline locally, prints the push result."""
    from models.dqn.config import PRESETS, preset
    from pipeline.rl_pipeline import (
        RlPipelineConfig,
        create_rl_pipeline,
        default_pipeline_name,
    )
    from vrl.local import show_progress
    from vrl.runner import local_metadata_config, run_local

    if args.preset is not None and args.preset not in PRESETS:
        print(f"vrl run rl: unknown --preset {args.preset!r}; choose one of {sorted(PRESETS)}")
        return 2
    home = os.path.abspath(args.home)
    overrides = {}
    if args.steps is not None:
        overrides["num_env_steps"] = args.steps
    pipeline_name = args.pipeline_name or default_pipeline_name(args.env)
    config = RlPipelineConfig(
        pipeline_root=os.path.join(home, "tfx", pipeline_name),
        serving_base=os.path.abspath(args.serving_base or os.path.join(home, "serving")),
        pipeline_name=pipeline_name,
        env_id=args.env,
        seed=args.seed,
        dqn_config=preset(args.preset or args.env),
        eval_episodes=args.eval_episodes,
        threshold=args.threshold,
        enable_cache=not args.no_cache,
        **overrides,
    )
    print(f"vrl run rl: {config.env_id}, {config.num_env_steps} env steps, seed {config.seed}")
    print(f"  pipeline root {config.pipeline_root}")
    show_progress()
    run_local(
        create_rl_pipeline(
            config, metadata_connection_config=local_metadata_config(config.pipeline_root)
        )
    )
    return report(config)


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
    print(f"  pushed policy to {custom_property(push, 'pushed_destination')}")
    return 0
