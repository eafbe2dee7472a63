"""TensorBoard HParams for a training run: the config as hparams, final metrics as metrics.

Written into the run's TensorBoard log folder, so runs compare side by side in
TensorBoard's HParams dashboard (`tensorboard --logdir <pipeline root>`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

METRIC_PREFIX = "hparams/"


def flatten(config: Any) -> dict[str, bool | int | float | str]:
    """A config (dataclass or mapping) as HParams values: bool, int, float or str.

    Sequences and nested values become their JSON text; None becomes "None".
    """
    items = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    out: dict[str, bool | int | float | str] = {}
    for name, value in sorted(items.items()):
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif value is None:
            out[name] = "None"
        else:
            out[name] = json.dumps(value, sort_keys=True, default=str)
    return out


def write_hparams(
    log_dir: str,
    config: Any,
    metrics: Mapping[str, float],
    step: int = 0,
    trial_id: str = "",
    data: Mapping[str, str] | None = None,
) -> None:
    """Records `config` and `data` (what the run trained on: span, fingerprint) as
    this run's hparams, so runs on different data stay apart in the HParams
    dashboard, and `metrics` as `hparams/<name>` scalars."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        hp.hparams({**flatten(config), **(data or {})}, trial_id=trial_id or None)
        for name, value in sorted(metrics.items()):
            if value is not None:
                tf.summary.scalar(f"{METRIC_PREFIX}{name}", float(value), step=step)
    writer.flush()
    writer.close()
