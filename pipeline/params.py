"""Pipeline-level runtime parameters and the components no runner may cache.

`create_*_pipeline(config, runtime_parameters=True)` (the Kubeflow compile)
turns a few settings into TFX RuntimeParameters, with the config's values as
defaults, so `vrl submit --param NAME=VALUE` can change them per run. The
local runner keeps plain values (LocalDagRunner takes no RuntimeParameters).
JSON-valued parameters (`trainer_config`, `dqn_config`) hold a whole config
object; `vrl submit --param epochs=5` updates one of its keys.
"""

from __future__ import annotations

from typing import Any

# Components that read state outside the pipeline (the serving base): a cached
# result would hide a newer served model, so runners always execute them.
UNCACHED_COMPONENT_IDS = ("ServedBaseline",)


def maybe_runtime(name: str, value: Any, ptype: type, enabled: bool) -> Any:
    """`value`, or a RuntimeParameter named `name` defaulting to it when enabled."""
    if not enabled:
        return value
    from tfx.orchestration import data_types

    return data_types.RuntimeParameter(name=name, ptype=ptype, default=ptype(value))
