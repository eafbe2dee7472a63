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
from models.cnn.limits import ARCHITECTURES, DEFAULT_FILTERS, OPTIMIZERS, SCHEDULES


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Hyperparameters of `models.cnn.trainer.run_fn`."""

    image_size: int | None = None
    """Side of the transformed image; None takes it from the transform graph.
    If set it must match Transform's `image_size`."""
    arch: str = "convnet"
    """"convnet" (conv/pool stages), "resnet" (small ResNet), both from scratch, or a
    pretrained backbone: "mobilenet_v3_small", "efficientnet_v2_b0", "resnet50"."""
    weights: str | None = None
    """Backbone weights: "imagenet" (Keras' published weights, downloaded once into
    ~/.keras/models/), the path of a local Keras weights file of the backbone
    without its top, or "none" (from scratch). None: "imagenet" for the backbones;
    convnet/resnet always start from scratch."""
    fine_tune_layers: int = 40
    """Phase 2 unfreezes this many layers at the top of a pretrained backbone (BatchNorm
    layers stay frozen and in inference mode); 0 trains only the head."""
    fine_tune_epochs: int = 5
    """Epochs of phase 2, after the `epochs` of phase 1 (backbone frozen, new head)."""
    fine_tune_lr_factor: float = 0.1
    """Phase 2 learning rate = learning_rate x this (constant): small steps keep the
    pretrained features."""
    augment: bool | None = None
    """Random flip, rotation, zoom, contrast and crop of training batches only (never
    at evaluation or serving). None: on for the backbones, off for convnet/resnet."""
    augment_rotation: float = 0.05
    """Largest rotation, as a fraction of a full turn (0.05 = 18 degrees)."""
    augment_zoom: float = 0.1
    """Largest zoom in or out, as a fraction of the side."""
    augment_contrast: float = 0.1
    """Largest contrast change, as a fraction."""
    augment_crop: float = 0.85
    """Smallest random crop side as a fraction of the image side (resized back)."""
    class_weights: bool = True
    """Weight the loss by n / (K * n_class) when the training split's largest/smallest
    class count exceeds `class_weight_min_ratio`."""
    class_weight_min_ratio: float = 1.5
    """Class imbalance (largest/smallest count) from which class weights apply."""
    label_smoothing: float = 0.0
    """Label smoothing of the cross-entropy loss (0 = off; 0.1 is common)."""
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
    min_steps: int = 600
    """Fewest optimizer steps of a run: a training split smaller than
    min_steps / epochs batches is repeated within each epoch. BatchNorm's moving
    statistics, which validation and serving use, need a few dozen steps to follow
    the weights; 160 photos at 4 steps per epoch left them behind for the whole run."""
    sanity_checks: bool = True
    """Run the init-loss and overfit-one-batch checks before training."""
    sanity_batch: int = 16
    """Examples in the overfit-one-batch check."""
    sanity_steps: int = 150
    """Steps allowed to overfit that batch."""
    seed: int = 42
    """Seed for weights, shuffling and the sanity checks."""
    deterministic: bool = False
    """TensorFlow op determinism (models/reproducibility.py): the same seed gives the
    same weights in every process. Off by default: it runs tf.data maps that hold
    stateful random ops (augmentation) serially; Python, NumPy and TF are seeded anyway."""
    cache: bool = True
    """Keep the decoded images in memory after the first epoch, if they fit `cache_budget_mb`."""
    cache_budget_mb: int = 2048
    """Largest training split kept in memory (uint8 pixels, S x S x 3 bytes per image);
    a larger split is read again from Transform's materialised records every epoch."""
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
        if self.arch in limits.BACKBONES:
            min_size = limits.MIN_BACKBONE_IMAGE_SIZE
        weights_ok = self.weights is None or bool(self.weights)
        if self.arch not in limits.BACKBONES:
            weights_ok = self.weights in (None, "none")
        checks = [
            ("arch", self.arch in ARCHITECTURES, f"one of {ARCHITECTURES}"),
            ("optimizer", self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}"),
            ("schedule", self.schedule in SCHEDULES, f"one of {SCHEDULES}"),
            ("learning_rate", 0 <= lr <= limits.MAX_LEARNING_RATE, "in [0, 1]"),
            ("batch_size", 1 <= batch <= limits.MAX_BATCH_SIZE, f"in [1, {limits.MAX_BATCH_SIZE}]"),
            ("epochs", 1 <= self.epochs <= limits.MAX_EPOCHS, f"in [1, {limits.MAX_EPOCHS}]"),
            ("patience", self.patience >= 1, ">= 1"),
            ("min_steps", self.min_steps >= 0, ">= 0"),
            ("dropout", 0.0 <= self.dropout < 1.0, "in [0, 1)"),
            (
                "image_size",
                size is None or min_size <= size <= limits.MAX_IMAGE_SIZE,
                f"in [{min_size}, {limits.MAX_IMAGE_SIZE}]",
            ),
            ("filters", len(self.filters) >= 1 and min(self.filters) >= 1, "widths >= 1"),
            (
                "weights",
                weights_ok,
                "'imagenet', 'none' or a file path ('none' for convnet/resnet)",
            ),
            ("fine_tune_layers", self.fine_tune_layers >= 0, ">= 0"),
            ("fine_tune_epochs", 0 <= self.fine_tune_epochs <= limits.MAX_EPOCHS, ">= 0"),
            ("fine_tune_lr_factor", 0 < self.fine_tune_lr_factor <= 1, "in (0, 1]"),
            ("augment_rotation", 0 <= self.augment_rotation <= 0.5, "in [0, 0.5]"),
            ("augment_zoom", 0 <= self.augment_zoom < 1, "in [0, 1)"),
            ("augment_contrast", 0 <= self.augment_contrast < 1, "in [0, 1)"),
            ("augment_crop", 0 < self.augment_crop <= 1, "in (0, 1]"),
            ("class_weight_min_ratio", self.class_weight_min_ratio >= 1, ">= 1"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("cache_budget_mb", self.cache_budget_mb >= 0, ">= 0"),
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

    @property
    def is_backbone(self) -> bool:
        """True for the tf_keras.applications backbones."""
        return self.arch in limits.BACKBONES

    @property
    def resolved_weights(self) -> str:
        """The weights used: "imagenet", "none" or a path."""
        if not self.is_backbone:
            return "none"
        return "imagenet" if self.weights is None else self.weights

    @property
    def resolved_augment(self) -> bool:
        """Whether training batches are augmented."""
        return self.is_backbone if self.augment is None else self.augment

    @property
    def pretrained(self) -> bool:
        """A backbone with loaded weights: trained in two phases."""
        return self.is_backbone and self.resolved_weights != "none"
