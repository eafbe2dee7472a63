"""Trainer hyperparameters, read from the Trainer's `custom_config`.

Defaults live here, once. Measured with them on 2 shared CPU cores (80/20
hash split, image_size 32): drawn shapes, 1,500 images, 5 classes: eval
accuracy 0.990, fit 52 s; scikit-learn digits, 1,797 images: eval accuracy
1.000, fit 38 s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from models.cnn import limits
from models.cnn.model import ARCHITECTURES, DEFAULT_FILTERS, OPTIMIZERS, SCHEDULES


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Hyperparameters of `models.cnn.trainer.run_fn`."""

    image_size: int | None = None
    """Side of the transformed image; None takes it from the transform graph.
    If set it must match Transform's `image_size`."""
    arch: str = "convnet"
    """"convnet" (conv/pool stages) or "resnet" (small ResNet)."""
    filters: tuple[int, ...] = DEFAULT_FILTERS
    """Channel width per stage (two 3x3 convs each, then 2x2 pooling / stride 2)."""
    dropout: float = 0.3
    """Dropout before the classifier."""
    optimizer: str = "adam"
    """"adam", "sgd" (Nesterov momentum 0.9) or "rmsprop"."""
    learning_rate: float = 1e-3
    """Peak learning rate."""
    schedule: str = "cosine"
    """"cosine" decay over all training steps, or "constant"."""
    batch_size: int = 32
    """Global batch size (split across replicas under MirroredStrategy)."""
    epochs: int = 20
    """Epochs; with `train_steps` set, the steps are spread over this many epochs."""
    patience: int = 6
    """Early stopping: epochs without val_loss improvement; the best weights are kept."""
    sanity_checks: bool = True
    """Run the init-loss and overfit-one-batch checks before training."""
    sanity_batch: int = 16
    """Examples in the overfit-one-batch check."""
    sanity_steps: int = 150
    """Steps allowed to overfit that batch."""
    seed: int = 42
    """Seed for weights, shuffling and the sanity checks."""
    cache: bool = True
    """Keep decoded images in memory after the first epoch."""
    # Error analysis and TFLite export (models/cnn/eval_split.py).
    top_k: tuple[int, ...] = limits.DEFAULT_TOP_K
    """Top-k accuracies in the error analysis (k >= the number of classes is skipped)."""
    tflite: str | None = None
    """Also export a TFLite model into <serving_model_dir>/tflite/: "float16" or
    "dynamic" (weight quantization); None exports none."""

    def __post_init__(self) -> None:
        size, batch, lr = self.image_size, self.batch_size, self.learning_rate
        # Each conv stage halves the side; below 2**stages a pooling layer fails.
        min_size = max(limits.MIN_IMAGE_SIZE, 2 ** len(self.filters))
        checks = [
            ("arch", self.arch in ARCHITECTURES, f"one of {ARCHITECTURES}"),
            ("optimizer", self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}"),
            ("schedule", self.schedule in SCHEDULES, f"one of {SCHEDULES}"),
            ("learning_rate", 0 <= lr <= limits.MAX_LEARNING_RATE, "in [0, 1]"),
            ("batch_size", 1 <= batch <= limits.MAX_BATCH_SIZE, f"in [1, {limits.MAX_BATCH_SIZE}]"),
            ("epochs", 1 <= self.epochs <= limits.MAX_EPOCHS, f"in [1, {limits.MAX_EPOCHS}]"),
            ("patience", self.patience >= 1, ">= 1"),
            ("dropout", 0.0 <= self.dropout < 1.0, "in [0, 1)"),
            (
                "image_size",
                size is None or min_size <= size <= limits.MAX_IMAGE_SIZE,
                f"in [{min_size}, {limits.MAX_IMAGE_SIZE}]",
            ),
            ("filters", len(self.filters) >= 1 and min(self.filters) >= 1, "widths >= 1"),
            ("sanity_batch", self.sanity_batch >= 1, ">= 1"),
            ("sanity_steps", self.sanity_steps >= 1, ">= 1"),
            ("top_k", all(k >= 1 for k in self.top_k), "a list of ints >= 1"),
            (
                "tflite",
                self.tflite is None or self.tflite in limits.TFLITE_QUANTIZATIONS,
                f"None or one of {limits.TFLITE_QUANTIZATIONS}",
            ),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(
                    f"Trainer custom_config: {name} must be {expected}, got {getattr(self, name)!r}"
                )

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any] | None) -> TrainerConfig:
        """Builds the config; unknown keys are an error (they are usually typos)."""
        values = dict(custom_config or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Trainer custom_config has unknown keys {unknown}; known keys are {sorted(known)}"
            )
        for key in ("filters", "top_k"):  # JSON gives lists
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)
