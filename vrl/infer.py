"""`vrl run infer --data POOL`: score an unlabelled folder of images with the served
model through TFX's BulkInferrer (pipeline/infer_pipeline.py), writing
`tensorflow.serving.PredictionLog`s that `vrl harvest` reads.

The flags are generated from `InferPipelineConfig` (vrl/flags.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from pipeline.infer_config import InferPipelineConfig
from vrl import flags
from vrl.help_format import DefaultsFormatter

RENAME = {"data_dir": "data", "enable_cache": "cache"}
"""Flag spellings shared with `vrl run image`."""


def config_flags() -> list[flags.Flag]:
    """The generated flags of `vrl run infer`."""
    return flags.config_flags(InferPipelineConfig, rename=RENAME)


def add_parser(run_sub: argparse._SubParsersAction) -> None:
    """Registers `vrl run infer`."""
    p = run_sub.add_parser(
        "infer",
        help="score an unlabelled image folder with the served model (TFX BulkInferrer); "
        "the PredictionLogs feed vrl harvest",
        description=__doc__.split("\n\n")[0],
        formatter_class=DefaultsFormatter,
    )
    flags.add_flags(p, config_flags(), ["data_dir"], shown={"serving_base": "<home>/serving"})
    p.set_defaults(func=handler)


def config_from_args(args: argparse.Namespace) -> InferPipelineConfig:
    """The frozen config from parsed flags, local paths made absolute."""
    config = flags.build(InferPipelineConfig, flags.given(args, config_flags()))
    return dataclasses.replace(
        config,
        data_dir=os.path.abspath(config.data_dir),
        home=os.path.abspath(config.home),
        serving_base=os.path.abspath(config.resolved_serving_base),
    )


def served_version(config: InferPipelineConfig) -> int:
    """The version production traffic reaches (as ServedBaseline will find it).

    Raises ValueError (one line) when the pool is not a folder of files or nothing
    is served."""
    from components.served_baseline import ops
    from components.served_baseline.constants import MODEL_CONFIG_FILE
    from contracts.serving_base import complete_versions

    pool = config.data_dir
    if not os.path.isdir(pool) or not any(
        os.path.isfile(os.path.join(pool, n)) for n in os.listdir(pool)
    ):
        raise ValueError(f"--data {pool}: expected a folder with image files directly in it")
    model_dir = os.path.join(config.resolved_serving_base, config.model_name)
    available = complete_versions(model_dir) if os.path.isdir(model_dir) else []
    config_path = ops.config_path_for(model_dir, MODEL_CONFIG_FILE)
    served = ops.served_version(
        ops.read_model_config(config_path),
        config_path,
        config.model_name,
        available,
        config.baseline_label,
    )
    if served.version is None:
        raise ValueError(f"{model_dir}: no model to score with ({served.why}); push one first")
    return served.version


def handler(args: argparse.Namespace) -> int:
    """`vrl run infer`: check, run the pipeline, say where the PredictionLogs are."""
    config = config_from_args(args)
    version = served_version(config)
    from vrl.local import run_infer_pipeline

    print(f"vrl run infer: {config.data_dir} scored by {config.model_name} version {version}")
    logs = run_infer_pipeline(config)
    print(f"  PredictionLogs in {logs}")
    print(
        f"  next: vrl harvest {config.model_name} --logs {logs} --out DIR --budget N "
        f"--serving-base {config.resolved_serving_base}"
    )
    return 0
