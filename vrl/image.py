"""`vrl run image` and the image pipeline's flags, shared with `vrl compile image`.

The flags are generated from `ImagePipelineConfig` and the `TrainerConfig`
nested in it (vrl/flags.py): a field added there is a flag here, with its
default and docstring as help.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from contracts.files import SPAN_FOLDER_PATTERN
from models.cnn.limits import BACKBONES, WEIGHT_CHOICES
from pipeline.image_config import CURATED_SCHEMA, SHARED_WITH_TRAINER, ImagePipelineConfig
from vrl import flags, tracking
from vrl.help_format import DefaultsFormatter

RENAME = {
    "data_dir": "data",
    "input_pattern": "pattern",
    "input_format": "format",
    "schema_path": "schema",
    "enable_cache": "cache",
}
"""Flag spellings users rely on that differ from the field name."""
CLUSTER_DEFAULTS = {"input_pattern": SPAN_FOLDER_PATTERN}
"""`vrl compile image` reads no data, so the pattern cannot be detected."""


def config_flags(cluster: bool = False) -> list[flags.Flag]:
    """The generated flags of `vrl run image` (or, with `cluster`, `vrl compile image`,
    whose pipeline root is a flag of its own and which has no --home)."""
    skip = ["pipeline_root", *(f"trainer.{name}" for name in SHARED_WITH_TRAINER)]
    return flags.config_flags(
        ImagePipelineConfig, rename=RENAME, skip=skip + (["home"] if cluster else [])
    )


def add_config_args(p: argparse.ArgumentParser, cluster: bool = False) -> None:
    """The ImagePipelineConfig flags. With `cluster`, paths are as the pods see them."""
    required = ["data_dir", "serving_base"] if cluster else ["data_dir"]
    flags.add_flags(
        p, config_flags(cluster), required, defaults=CLUSTER_DEFAULTS if cluster else None
    )
    p.add_argument(
        "--curated-schema",
        action="store_true",
        help="validate against the schema shipped in pipeline/schemas/ instead of SchemaGen's",
    )
    p.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        help="extra Beam pipeline arg, repeatable (e.g. --runner=FlinkRunner)",
    )


def config_from_args(
    args: argparse.Namespace, pipeline_root: str | None = None
) -> ImagePipelineConfig:
    """The frozen ImagePipelineConfig from parsed flags (validated on construction).

    Local runs make paths absolute; cluster paths (with `pipeline_root`) are
    kept as given, since they are URIs or paths inside the pods.
    """
    local = pipeline_root is None
    values = flags.given(args, config_flags(cluster=not local))
    if getattr(args, "curated_schema", False):
        if "schema_path" in values:
            raise ValueError("--schema and --curated-schema: give one of them")
        values["schema_path"] = CURATED_SCHEMA
    if not local:
        values.update(home="", pipeline_root=pipeline_root)
    config = flags.build(ImagePipelineConfig, values)
    return _absolute_paths(config) if local else config


def _absolute_paths(config: ImagePipelineConfig) -> ImagePipelineConfig:
    """Local paths made absolute (a run may change folders); weights choices stay."""
    weights = config.trainer.weights
    if weights is not None and weights not in WEIGHT_CHOICES:
        weights = os.path.abspath(weights)

    def fix(path: str | None) -> str | None:
        return os.path.abspath(path) if path else path

    return dataclasses.replace(
        config,
        data_dir=fix(config.data_dir),
        home=fix(config.home),
        serving_base=fix(config.serving_base),
        schema_path=fix(config.schema_path),
        trainer=dataclasses.replace(config.trainer, weights=weights),
    )


def check_backbone_weights(config) -> None:
    """Loads a backbone's weights once before any component runs, so a missing ImageNet
    download or a weights file of another arch fails in seconds, not in the Trainer."""
    trainer = config.trainer
    if trainer.arch in BACKBONES and trainer.weights != "none":
        # Imported here: backbones imports TensorFlow, which `--help` must not.
        from models.cnn.backbones import check_weights

        check_weights(trainer.arch, trainer.weights, config.image_size)


def add_parser(run_sub: argparse._SubParsersAction) -> None:
    """Registers `vrl run image`."""
    p = run_sub.add_parser(
        "image",
        help="run the image-classification pipeline locally",
        formatter_class=DefaultsFormatter,
    )
    add_config_args(p)
    tracking.add_args(p)
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """`vrl run image`: the config from the flags, then `run`."""
    return run(config_from_args(args), args.beam_arg, tracking.from_args(args))


def run(
    config: ImagePipelineConfig,
    beam_args: list[str] | None = None,
    tracked: tracking.TrackingConfig | None = None,
) -> int:
    """Runs the image pipeline locally and prints its summary and run report.

    Returns 0 when the gate worked either way (blessed and pushed, or not
    blessed and not pushed); 1 when nothing was evaluated or a blessed model
    was not pushed.
    """
    check_backbone_weights(config)
    # Imported when a run starts (they pull in TFX or ML Metadata); `--help` stays fast.
    from vrl.local import run_image_pipeline
    from vrl.report import print_run_report

    summary = run_image_pipeline(config, extra_beam_args=beam_args)
    print_summary(config, summary)
    if tracked is not None:
        tracking.print_run_folder(tracking.track_image(tracked, config, summary))
    if summary.pushed and summary.pushed_path:
        print_run_report(
            summary.pushed_path,
            config.resolved_serving_base,
            config.home,
            config.resolved_pipeline_root,
        )
    if summary.blessed is None or (summary.blessed and not summary.pushed):
        return 1
    return 0


def print_summary(config, summary) -> None:
    """Prints what a person wants to know after an image pipeline run."""
    print(f"\n== image pipeline '{config.pipeline_name}' ==")
    if summary.ingest:
        ing = summary.ingest
        print(
            f"ingested: {ing.get('examples_written')} examples, "
            f"{ing.get('quarantined')} quarantined of {ing.get('files_seen')} files"
        )
    issues = summary.data_issues
    if issues:
        kinds = ", ".join(f"{i['severity'].lower()} {i['kind']} [{i['split']}]" for i in issues)
        print(f"data checks: {len(issues)} finding(s): {kinds}")
    else:
        print("data checks: no findings")
    from vrl.results import span_drift_line

    if (drift := span_drift_line(summary.span_drift)) is not None:
        print(drift)
    acc = summary.metrics.get("sparse_categorical_accuracy")
    if acc is not None:
        print(
            f"eval accuracy: {acc:.4f} on {int(summary.metrics.get('example_count', 0))} examples"
        )
    if not summary.per_class_precision_recall:  # else the error-analysis table shows it
        for name, value in sorted(summary.per_class.items()):
            print(f"  class {name:>12}: {value:.4f}")
    from vrl.results import error_analysis_lines

    for line in error_analysis_lines(summary):
        print(line)
    print(f"blessed: {summary.blessed}")
    if summary.pushed and summary.already_served:
        print(f"already served: {summary.pushed_path} (identical model; not pushed again)")
    elif summary.pushed:
        print(f"pushed to: {summary.pushed_path}")
    else:
        print("not pushed (model not blessed); the served model is unchanged")
    print(f"pipeline outputs: {config.resolved_pipeline_root}")
