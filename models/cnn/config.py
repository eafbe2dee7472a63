"""Trainer hyperparameters, read from the Trainer's `custom_config`.

Defaults live here, once. Measured with them on 2 shared CPU cores (an AMD
EPYC with AVX2; 80/20 hash split, image_size 32, the convnet with its stem and
(24, 48, 96) stages): drawn shapes (`vrl data shapes`, 1,500 images, 5
classes), seeds 42, 7 and 1: eval accuracy 1.0000 in each, 305 steps, fit
17.2-22.5 s (12 epochs, min_steps 400 and a learning rate of 1e-3, the defaults
before: 1.0000 in 457 steps; 457 steps took 27.6-31.8 s of fit in the same
hour); scikit-learn digits,
1,797 images, seeds 42 and 7: 0.9947 and 0.9920 in 361 steps (before: 0.9973
and 0.9947 in 541). docs/performance.md has the tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from models.cnn import limits
from models.cnn.limits import ARCHITECTURES, OPTIMIZERS, SCHEDULES
from models.fields import SEED_LIMIT, normalize, problems, setting

WEIGHTS_SHA256_KEY = "weights_sha256"
"""Trainer custom_config key beside the TrainerConfig fields: the sha256 of a local
weights file, so the pipeline's cache key changes when the file's content does (its
path alone stays the same when the file is replaced in place)."""


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Hyperparameters of `models.cnn.trainer.run_fn`."""

    image_size: int | None = setting(
        None, kind=int, low=limits.MIN_IMAGE_SIZE, high=limits.MAX_IMAGE_SIZE, optional=True
    )
    """Side of the transformed image; None takes it from the transform graph.
    If set it must match Transform's `image_size`."""
    arch: str = setting("convnet", choices=ARCHITECTURES)
    """"convnet" (conv-BN/pool stages; above 28 px after a stem that halves the side
    without losing pixels), "resnet" (small ResNet), "compact" (keras-io's
    MNIST convnet: one conv per stage, no BatchNorm, flattened), all from scratch, or
    a pretrained backbone: "mobilenet_v3_small", "efficientnet_v2_b0", "resnet50"."""
    weights: str | None = setting(None, nonempty=True, optional=True)
    """Backbone weights: "imagenet" (Keras' published weights, downloaded once into
    ~/.keras/models/), the path of a local Keras weights file of the backbone
    without its top, or "none" (from scratch). None: "imagenet" for the backbones;
    convnet/resnet always start from scratch."""
    fine_tune_layers: int = setting(40, kind=int, low=0)
    """Phase 2 unfreezes this many layers at the top of a pretrained backbone (BatchNorm
    layers stay frozen and in inference mode); 0 trains only the head."""
    fine_tune_epochs: int = setting(5, kind=int, low=0, high=limits.MAX_EPOCHS)
    """Epochs of phase 2, after the `epochs` of phase 1 (backbone frozen, new head)."""
    fine_tune_lr_factor: float = setting(0.1, kind=float, low=0, high=1, low_open=True)
    """Phase 2 learning rate = learning_rate x this (constant): small steps keep the
    pretrained features."""
    stem: bool | None = setting(None, kind=bool, optional=True)
    """convnet only: a full-resolution conv, then space-to-depth to half the side,
    before the stages (about half the CPU per step). None: on above 28 px. Off can
    generalise better from a few hundred images (bench/small_data.py)."""
    augment: bool | None = setting(None, kind=bool, optional=True)
    """Random flip, rotation, zoom, contrast and crop of training batches only (never
    at evaluation or serving). None: on for the backbones, off for convnet/resnet."""
    augment_rotation: float = setting(0.05, kind=float, low=0, high=0.5)
    """Largest rotation, as a fraction of a full turn (0.05 = 18 degrees)."""
    augment_zoom: float = setting(0.1, kind=float, low=0, high=1, high_open=True)
    """Largest zoom in or out, as a fraction of the side."""
    augment_contrast: float = setting(0.1, kind=float, low=0, high=1, high_open=True)
    """Largest contrast change, as a fraction."""
    augment_crop: float = setting(0.85, kind=float, low=0, high=1, low_open=True)
    """Smallest random crop side as a fraction of the image side (resized back)."""
    class_weights: bool = setting(True, kind=bool)
    """Weight the loss by n / (K * n_class) when the training split's largest/smallest
    class count exceeds `class_weight_min_ratio`."""
    class_weight_min_ratio: float = setting(1.5, kind=float, low=1)
    """Class imbalance (largest/smallest count) from which class weights apply."""
    label_smoothing: float = setting(0.0, kind=float, low=0, high=1, high_open=True)
    """Label smoothing of the cross-entropy loss (0 = off; 0.1 is common)."""
    filters: tuple[int, ...] | None = setting(None, kind=int, low=1, items=True, optional=True)
    """Channel width per stage, each ending in 2x2 pooling (convnet/resnet: two 3x3
    convs per stage; compact: one). None sizes the net to its input: convnet/resnet
    (16, 32, 64) up to 28 px (limits.SMALL_IMAGE_MAX_SIZE), (32, 64, 128) above
    (measured: bench/small_nets.py), except the convnet with its stem up to 32 px:
    (24, 48, 96) (bench/shape_nets.py); compact (32, 64)."""
    dropout: float = setting(0.3, kind=float, low=0, high=1, high_open=True)
    """Dropout before the classifier."""
    optimizer: str = setting("adam", choices=OPTIMIZERS)
    """"adam", "sgd" (Nesterov momentum 0.9) or "rmsprop"."""
    learning_rate: float | None = setting(
        None, kind=float, low=0, high=limits.MAX_LEARNING_RATE, low_open=True, optional=True
    )
    """Peak learning rate. None: 2e-3 for convnet and resnet (BatchNorm nets trained
    from scratch; measured on the demo data and bench/small_data.py, in
    docs/performance.md), 1e-3 for compact and the backbones (whose phase 2 takes a
    tenth)."""
    schedule: str = setting("cosine", choices=SCHEDULES)
    """"cosine" decay over all training steps, or "constant"."""
    batch_size: int = setting(32, kind=int, low=1, high=limits.MAX_BATCH_SIZE)
    """Global batch size (split across replicas under MirroredStrategy)."""
    epochs: int = setting(8, kind=int, low=1, high=limits.MAX_EPOCHS)
    """Epochs; with `train_steps` set, the steps are spread over this many epochs.
    8: with the convnet's 2e-3 learning rate the shapes demo data reaches 0.99 by
    epoch 5 (module docstring); large splits stop sooner on a plateau."""
    patience: int = setting(6, kind=int, low=1)
    """Early stopping: epochs without val_loss improvement; the best weights are kept."""
    plateau_steps: int = setting(1000, kind=int, low=0)
    """Also stop when accuracy (val_accuracy with an eval split) has not risen by
    `plateau_delta` for this many optimizer steps, counted once `min_steps` are done
    (whole epochs; 0 turns it off). Counted in steps, not epochs, so a large split
    stops after an epoch that did not move accuracy (70,000 digits: 0.9999 after the
    first) while a small one, at tens of steps per epoch, keeps its epochs."""
    plateau_delta: float = setting(0.001, kind=float, low=0, high=1)
    """Smallest rise in accuracy that counts as progress for `plateau_steps`."""
    min_steps: int = setting(300, kind=int, low=0)
    """Fewest optimizer steps of a run: a training split smaller than
    min_steps / epochs batches is repeated within each epoch. BatchNorm's moving
    statistics, which validation and serving use, need a few dozen steps to follow
    the weights; 160 photos at 4 steps per epoch left them behind for the whole run.
    bench/small_data.py checks the smallest sets (faces, photos) at 300."""
    sanity_checks: bool = setting(True, kind=bool)
    """Run the init-loss and overfit-one-batch checks before training."""
    sanity_batch: int = setting(16, kind=int, low=1)
    """Examples in the overfit-one-batch check."""
    sanity_steps: int = setting(150, kind=int, low=1)
    """Steps allowed to overfit that batch (the run's own optimizer and schedule, from
    its first step; the model is put back afterwards)."""
    seed: int = setting(42, kind=int, low=0, high=SEED_LIMIT, high_open=True)
    """Seed for weights, shuffling and the sanity checks."""
    deterministic: bool = setting(False, kind=bool)
    """TensorFlow op determinism (models/reproducibility.py): the same seed gives the
    same weights in every process. Off by default: it runs tf.data maps that hold
    stateful random ops (augmentation) serially; Python, NumPy and TF are seeded anyway."""
    cache: bool = setting(True, kind=bool)
    """Keep the decoded images in memory after the first epoch, if they fit `cache_budget_mb`."""
    cache_budget_mb: int = setting(2048, kind=int, low=0)
    """Largest training split kept in memory (uint8 pixels, S x S x 3 bytes per image);
    a larger split is read again from Transform's materialised records every epoch."""
    # Error analysis and TFLite export (models/cnn/eval_split.py).
    top_k: tuple[int, ...] = setting(limits.DEFAULT_TOP_K, kind=int, low=1, items=True)
    """Top-k accuracies in the error analysis (k >= the number of classes is skipped)."""
    tflite: str | None = setting(None, choices=limits.TFLITE_QUANTIZATIONS, optional=True)
    """Also export a TFLite model beside the SavedModel (<version>/tflite/model.tflite):
    "float16" or "dynamic" weight quantization; None exports none."""

    def __post_init__(self) -> None:
        normalize(self)
        found = problems(self) or self._cross_field_problems()
        if found:
            raise ValueError("; ".join(f"TrainerConfig.{p}" for p in found))

    def _cross_field_problems(self) -> list[str]:
        """Checks that involve two fields (each single field passed its own)."""
        out = []
        size = self.image_size
        # Each conv stage halves the side; below 2**stages a pooling layer fails.
        stages = self.resolved_filters(size or 0)
        min_size = max(limits.MIN_IMAGE_SIZE, 2 ** len(stages))
        if self.is_backbone:
            min_size = limits.MIN_BACKBONE_IMAGE_SIZE
        if size is not None and size < min_size:
            out.append(f"image_size must be >= {min_size} for arch {self.arch!r}, got {size}")
        if self.stem and self.arch != "convnet":
            out.append(f"stem applies to arch 'convnet' only, got arch {self.arch!r}")
        if not self.is_backbone and self.weights not in (None, "none"):
            out.append(
                f"weights must be 'none' or unset for arch {self.arch!r}, got {self.weights!r}"
            )
        return out

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
        return cls(**values)

    def resolved_filters(self, image_side: int) -> tuple[int, ...]:
        """The stage widths used for images of `image_side` px."""
        return self.filters or limits.default_filters(self.arch, image_side, self.stem)

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
    def resolved_learning_rate(self) -> float:
        """The peak learning rate used."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-3 if self.arch in ("convnet", "resnet") else 1e-3

    @property
    def pretrained(self) -> bool:
        """A backbone with loaded weights: trained in two phases."""
        return self.is_backbone and self.resolved_weights != "none"
