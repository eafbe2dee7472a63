"""Shared by the custom executors: output folders exist before anything is written.

LocalDagRunner creates each output artifact's folder; Kubeflow's launcher
does not (object stores need none, but a mounted path does), so every
custom executor calls `ensure_output_dirs` first.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.io import fileio


def ensure_output_dirs(output_dict: dict[str, list[types.Artifact]]) -> None:
    """Creates the folder of every output artifact (no-op where it exists)."""
    for artifacts in output_dict.values():
        for artifact in artifacts:
            if artifact.uri:
                fileio.makedirs(artifact.uri)
