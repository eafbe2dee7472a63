"""Compiles the same pipeline definitions for Kubeflow Pipelines v2.

Only the runner differs from the local run: `create_image_pipeline` /
`create_rl_pipeline` are called exactly as the local runner calls them, with
no ML Metadata config (Kubeflow supplies its own) and Beam args for the
cluster.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging

KFP_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")


def build_pipeline(
    name: str,
    pipeline_root: str,
    data_dir: str,
    serving_base: str,
    beam_pipeline_args: list[str],
    **overrides: Any,
):
    """The `tfx.dsl.Pipeline` for 'image' or 'rl', configured for a cluster."""
    if name == "image":
        from pipeline.image_config import ImagePipelineConfig
        from pipeline.image_pipeline import create_image_pipeline

        config = ImagePipelineConfig(
            data_dir=data_dir,
            pipeline_root=pipeline_root,
            serving_base=serving_base,
            # The data is not visible at compile time; the layout must be named.
            input_pattern=overrides.pop("input_pattern", "*/*"),
            **overrides,
        )
        return create_image_pipeline(config, beam_pipeline_args=beam_pipeline_args)
    if name == "rl":
        from pipeline.rl_pipeline import RlPipelineConfig, create_rl_pipeline

        config = RlPipelineConfig(
            pipeline_root=pipeline_root, serving_base=serving_base, **overrides
        )
        return create_rl_pipeline(config, beam_pipeline_args=beam_pipeline_args)
    raise ValueError(f"unknown pipeline {name!r}; expected 'image' or 'rl'")


def compile_pipeline(
    name: str,
    output_file: str,
    pipeline_root: str,
    data_dir: str = "/data/images",
    serving_base: str = "/models",
    image: str = "vision-rl-pipeline:latest",
    beam_pipeline_args: list[str] | None = None,
    **overrides: Any,
) -> str:
    """Writes the Kubeflow V2 pipeline spec JSON and returns its path.

    The Trainer's module wheel is written under `<pipeline_root>/_wheels` at
    compile time, so the pipeline root must be writable now.
    """
    from tfx import v1 as tfx

    pipeline = build_pipeline(
        name,
        pipeline_root=pipeline_root,
        data_dir=data_dir,
        serving_base=serving_base,
        beam_pipeline_args=list(beam_pipeline_args or KFP_BEAM_ARGS),
        **overrides,
    )
    out_dir = os.path.dirname(os.path.abspath(output_file))
    os.makedirs(out_dir, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=out_dir,
        output_filename=os.path.basename(output_file),
    )
    runner.run(pipeline)
    logging.info("compiled %s pipeline to %s", name, output_file)
    return output_file


def load_pipeline_spec(path: str):
    """Parses a compiled file into kfp's PipelineSpec proto (raises if invalid)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(path) as f:
        doc = json.load(f)
    spec = doc.get("pipelineSpec", doc)
    return json_format.ParseDict(
        spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
    )
