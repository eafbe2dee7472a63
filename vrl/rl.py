"""`vrl run rl`: train, evaluate and push a DQN policy with the local runner.

Registered on the `vrl run` subcommands by `add_parser`; TensorFlow and TFX
are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from contracts.serving_base import ALREADY_SERVED_PROPERTY
from models.dqn.config import PRESETS, DqnConfig, preset
from models.fields import check_of, parse_text
from pipeline.rl_config import RlPipelineConfig, default_pipeline_name
from vrl import flags, tracking
from vrl.help_format import DefaultsFormatter

DEFAULT_HOME = "./runs"
RENAME = {"env_id": "env", "num_env_steps": "steps", "enable_cache": "cache"}
"""Flag spellings users rely on that differ from the field name."""
NOTES = {"dqn_config": "or the --preset's (the env's own by default)"}


def config_flags(cluster: bool = False) -> list[flags.Flag]:
    """The generated flags of `vrl run rl` and `vrl compile rl` (the pipeline root
    is derived from --home locally, a flag of its own on a cluster)."""
    del cluster  # the same fields either way
    return flags.config_flags(RlPipelineConfig, rename=RENAME, skip=["pipeline_root"], notes=NOTES)


def add_config_args(parser: argparse.ArgumentParser, cluster: bool = False) -> None:
    """The RlPipelineConfig flags, shared by `vrl run rl` and `vrl compile rl`."""
    if cluster:
        flags.add_flags(parser, config_flags(cluster), required=["serving_base"])
    else:
        flags.add_flags(parser, config_flags(cluster), shown={"serving_base": "<home>/serving"})
        parser.add_argument(
            "--home",
            default=DEFAULT_HOME,
            help="working folder; pipeline root is <home>/tfx/<pipeline>",
        )
    parser.add_argument(
        "--preset",
        default=None,
        help="named DQN preset (models/dqn/config.PRESETS; default: the env's own, if any)",
    )
    parser.add_argument(
        "--dqn",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set one DqnConfig field, repeatable (e.g. --dqn learning_rate=1e-3); "
        "the same as its own flag (--learning-rate 1e-3), which wins over it",
    )


def dqn_overrides(items: list[str]) -> dict:
    """`--dqn FIELD=VALUE` items as typed DqnConfig values (each field's own parser)."""
    fields = {f.name: f for f in dataclasses.fields(DqnConfig)}
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--dqn {item!r}: expected FIELD=VALUE, e.g. learning_rate=1e-3")
        if key not in fields:
            raise ValueError(
                f"--dqn {key}: unknown DqnConfig field; expected one of {sorted(fields)}"
            )
        try:
            out[key] = parse_text(check_of(fields[key]), text)
        except ValueError as e:
            raise ValueError(f"--dqn {key}={text!r}: {e}") from None
    return out


def config_from_args(
    args: argparse.Namespace, pipeline_root: str | None = None
) -> RlPipelineConfig:
    """The frozen RlPipelineConfig from parsed flags (validated on construction):
    the DQN preset (named or the env's own), then `--dqn` items, then DQN flags."""
    if args.preset is not None and args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset!r}: unknown; choose one of {sorted(PRESETS)}")
    values = flags.given(args, config_flags(cluster=pipeline_root is not None))
    env_id = values.get("env_id", RlPipelineConfig.__dataclass_fields__["env_id"].default)
    values["dqn_config"] = {**dqn_overrides(args.dqn), **values.get("dqn_config", {})}
    if pipeline_root is None:  # local run: everything under --home
        home = os.path.abspath(args.home)
        name = values.get("pipeline_name") or default_pipeline_name(env_id)
        pipeline_root = os.path.join(home, "tfx", name)
        values["serving_base"] = os.path.abspath(
            values.get("serving_base") or os.path.join(home, "serving")
        )
    values["pipeline_root"] = pipeline_root
    return flags.build(
        RlPipelineConfig, values, bases={"dqn_config": preset(args.preset or env_id)}
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
    """`vrl run rl`: the config from the flags, then `run`."""
    return run(config_from_args(args), tracking.from_args(args))


def run(config: RlPipelineConfig, tracked: tracking.TrackingConfig | None = None) -> int:
    """Runs the RL pipeline locally and prints the evaluation and push (see `report`)."""
    # Imported when a run starts (TFX, ML Metadata); `--help` stays fast.
    from vrl.local import run_rl_pipeline

    def header() -> None:
        print(f"vrl run rl: {config.env_id}, {config.num_env_steps} env steps, seed {config.seed}")
        print(f"  pipeline root {config.pipeline_root}")

    run_rl_pipeline(config, on_start=header)
    status = report(config)
    if tracked is not None:
        home = os.path.dirname(os.path.dirname(config.pipeline_root))  # <home>/tfx/<pipeline>
        tracking.print_run_folder(tracking.track_rl(tracked, config, home))
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
    if custom_property(push, ALREADY_SERVED_PROPERTY) == 1:
        print(f"  policy already served at {destination} (identical; not pushed again)")
    else:
        print(f"  pushed policy to {destination}")
    from vrl.report import print_run_report

    home = os.path.dirname(os.path.dirname(config.pipeline_root))  # <home>/tfx/<pipeline>
    print_run_report(destination, config.serving_base, home, config.pipeline_root)
    return 0
