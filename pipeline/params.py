"""Pipeline-level runtime parameters, the schema fields behind them, and the
components no runner may cache.

`create_*_pipeline(config, runtime_parameters=True)` (the Kubeflow compile)
turns some settings into TFX RuntimeParameters, with the config's values as
defaults, so `vrl submit --param NAME=VALUE` can change them per run. The
local runner keeps plain values (LocalDagRunner takes no RuntimeParameters).
JSON-valued parameters hold a whole config object: `trainer_config` every
TrainerConfig field, `dqn_config` every DqnConfig field, `transform_config`
the image_size that Transform uses and the Trainer reads from Transform's
graph. `vrl submit --param epochs=5` updates one key, and every value is
judged by its field's own check (models/fields.py) before anything is sent.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from models import fields
from models.cnn.config import WEIGHTS_SHA256_KEY
from models.fields import Check
from pipeline.image_config import ImagePipelineConfig
from pipeline.rl_config import RlPipelineConfig

# Components that read state outside the pipeline (the serving base): a cached
# result would hide a newer served model, so runners always execute them.
UNCACHED_COMPONENT_IDS = ("ServedBaseline",)

DATA_ROOT = "data_root"
RANGE_CONFIG = "range_config"
TRANSFORM_CONFIG = "transform_config"
TRAINER_CONFIG = "trainer_config"
DQN_CONFIG = "dqn_config"
ENV_STEPS = "env_steps"

SCALARS: dict[str, tuple[type, str]] = {
    DATA_ROOT: (ImagePipelineConfig, "data_dir"),
    "span": (ImagePipelineConfig, "span"),  # sent as range_config
    "min_accuracy": (ImagePipelineConfig, "min_accuracy"),
    "max_accuracy_drop": (ImagePipelineConfig, "max_accuracy_drop"),
    "tflite_max_drop": (ImagePipelineConfig, "tflite_max_drop"),
    ENV_STEPS: (RlPipelineConfig, "num_env_steps"),
    "eval_episodes": (RlPipelineConfig, "eval_episodes"),
    "max_regression": (RlPipelineConfig, "max_regression"),
}
"""Runtime parameter -> the config field whose check its value passes."""
ALIASES = {"num_env_steps": ENV_STEPS, "data_dir": DATA_ROOT}
"""Field names `vrl submit --param` also takes for a parameter named otherwise."""
OBJECTS: dict[str, tuple[type, str | None]] = {
    TRANSFORM_CONFIG: (ImagePipelineConfig, None),
    TRAINER_CONFIG: (ImagePipelineConfig, "trainer"),
    DQN_CONFIG: (RlPipelineConfig, "dqn_config"),
}
"""JSON-object runtime parameter -> the config whose fields its keys are: the
pipeline config itself, or the config nested in its field (TrainerConfig, DqnConfig)."""


def object_class(param: str) -> type:
    """The config class whose fields the JSON-object parameter `param` holds."""
    cls, nested = OBJECTS[param]
    return fields.nested_configs(cls)[nested] if nested else cls


def maybe_runtime(name: str, value: Any, ptype: type, enabled: bool) -> Any:
    """`value`, or a RuntimeParameter named `name` defaulting to it when enabled."""
    if not enabled:
        return value
    from tfx.orchestration import data_types

    return data_types.RuntimeParameter(name=name, ptype=ptype, default=ptype(value))


def transform_config(config: ImagePipelineConfig) -> dict[str, Any]:
    """Transform's custom_config (models/cnn/preprocessing.py reads image_size)."""
    return {"image_size": config.image_size}


def check_for(param: str, key: str | None = None) -> tuple[str, Check] | None:
    """('ClassName.field', Check) behind a scalar parameter, or behind `key` of a
    JSON-object parameter; None when the parameter has no schema field."""
    if key is None:
        if param not in SCALARS:
            return None
        cls, name = SCALARS[param]
    else:
        cls, name = object_class(param), key
    try:
        return f"{cls.__name__}.{name}", fields.field_check(cls, name)
    except KeyError:
        return None


def field_names(param: str) -> list[str]:
    """Every field a JSON-object parameter may hold (for messages)."""
    if param == TRANSFORM_CONFIG:
        return sorted(transform_config(ImagePipelineConfig(data_dir="d")))
    return sorted(f.name for f in dataclasses.fields(object_class(param)))


def compile_time_fields() -> dict[str, str]:
    """Pipeline config fields fixed when the package is compiled -> the config's name."""
    out = {}
    for cls in (ImagePipelineConfig, RlPipelineConfig):
        held = {name for name, (owner, _) in SCALARS.items() if owner is cls}
        held |= {field for owner, field in SCALARS.values() if owner is cls}
        for f in dataclasses.fields(cls):
            if f.name not in held and f.name not in ("trainer", "dqn_config", "image_size"):
                out.setdefault(f.name, cls.__name__)
    return out


def check_objects(values: dict[str, Any]) -> None:
    """Judges whole JSON-object parameters (cross-field checks included) as the
    tasks will build them; raises ValueError with the config's one-line message."""
    image_size = None
    if TRANSFORM_CONFIG in values:
        image_size = json.loads(values[TRANSFORM_CONFIG]).get("image_size")
    if TRAINER_CONFIG in values:
        trainer = json.loads(values[TRAINER_CONFIG])
        trainer.pop(WEIGHTS_SHA256_KEY, None)
        object_class(TRAINER_CONFIG).from_custom_config({**trainer, "image_size": image_size})
    if DQN_CONFIG in values:
        object_class(DQN_CONFIG).from_json(values[DQN_CONFIG])
