"""Local (embedded default) runner: TFX LocalDagRunner, SQLite ML Metadata,
Beam DirectRunner."""

from __future__ import annotations

import os
from typing import Any


def metadata_path(pipeline_root: str) -> str:
    """SQLite ML Metadata file kept beside the pipeline outputs."""
    return os.path.join(pipeline_root, "metadata.sqlite")


def local_metadata_config(pipeline_root: str):
    """SQLite ML Metadata connection config beside the pipeline outputs."""
    from tfx import v1 as tfx

    return tfx.orchestration.metadata.sqlite_metadata_connection_config(
        metadata_path(pipeline_root)
    )


def local_beam_args(direct_num_workers: int = 1) -> list[str]:
    """Beam DirectRunner args for one machine.

    in_memory mode measured ~2x faster and ~2.5x leaner than multi_processing
    on 2 cores for this pipeline's sizes.
    """
    return [
        "--runner=DirectRunner",
        "--direct_running_mode=in_memory",
        f"--direct_num_workers={direct_num_workers}",
    ]


def run_local(pipeline: Any) -> None:
    """Runs a `tfx.dsl.Pipeline` in-process with LocalDagRunner.

    Components that read state outside the pipeline (`UNCACHED_COMPONENT_IDS`:
    the served baseline) always run, whatever the pipeline's cache setting.
    """
    from tfx import v1 as tfx
    from tfx.dsl.compiler import compiler

    from pipeline.params import UNCACHED_COMPONENT_IDS

    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in UNCACHED_COMPONENT_IDS:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    tfx.orchestration.LocalDagRunner().run_with_ir(ir)
