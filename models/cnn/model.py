"""Keras (tf-keras, Keras 2) CNN factories, kept apart from compile and fit.

`build_model` returns an uncompiled model whose input is the transformed image
(float32 [N, S, S, 3] in [0, 1]) and whose output is class probabilities.
`compile_model` chooses the optimizer and learning-rate schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from models.cnn import backbones, limits
from models.cnn.head import BN_MOMENTUM, INPUT_NAME, classifier_head

Policy = tf_keras.mixed_precision.Policy

ARCHITECTURES = limits.ARCHITECTURES
OPTIMIZERS = limits.OPTIMIZERS
SCHEDULES = limits.SCHEDULES
DEFAULT_FILTERS = limits.DEFAULT_FILTERS


def _policy(mixed_precision: bool) -> Policy:
    return tf_keras.mixed_precision.Policy("mixed_float16" if mixed_precision else "float32")


def _conv_bn_relu(
    x: tf.Tensor, filters: int, policy: Policy, strides: int = 1, name: str = ""
) -> tf.Tensor:
    x = tf_keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, dtype=policy, name=name
    )(x)
    x = tf_keras.layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name=f"{name}_bn")(x)
    return tf_keras.layers.ReLU(dtype=policy, name=f"{name}_relu")(x)


@tf_keras.utils.register_keras_serializable(package="vrl")
class SpaceToDepth(tf_keras.layers.Layer):
    """Rearranges each 2x2 block of pixels into channels (`tf.nn.space_to_depth`):
    half the side, four times the channels, nothing lost. An odd side is padded
    with one zero row or column first."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        height, width = x.shape[1], x.shape[2]
        if height is None or width is None:  # traced with relaxed shapes
            odd = tf.shape(x)[1:3] % 2
            x = tf.pad(x, [[0, 0], [0, odd[0]], [0, odd[1]], [0, 0]])
        elif height % 2 or width % 2:
            x = tf.pad(x, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]])
        return tf.nn.space_to_depth(x, 2)

    def get_config(self) -> dict:
        # Its own (no arguments beyond the base layer's): Keras' automatic config
        # refuses the dtype policy object the convnet passes.
        return super().get_config()


def _convnet_body(x: tf.Tensor, filters: Sequence[int], policy: Policy, stem: bool) -> tf.Tensor:
    """Conv-BN-ReLU twice per width, max-pooling between widths. With `stem`
    (by default above `limits.SMALL_IMAGE_MAX_SIZE` px) a stem comes first: one
    conv at full resolution, then `SpaceToDepth` to half the side, so the stages
    run on a quarter of the pixels (bench/shape_nets.py: about half the CPU per step; on
    the shapes demo data with (32, 64, 128) stages 741 steps (20 epochs) reach 0.987
    and 0.978 for seeds 42 and 7, against 0.987 and 0.987 for 600 steps without the
    stem; `limits.NARROW_STEM_FILTERS` for the narrower default up to 32 px); the last
    stage is then not pooled, which keeps the final map as large as without it."""
    if stem:
        x = _conv_bn_relu(x, limits.STEM_FILTERS, policy, name="stem_conv")
        x = SpaceToDepth(dtype=policy, name="stem_space_to_depth")(x)
    for i, width in enumerate(filters):
        x = _conv_bn_relu(x, width, policy, name=f"block{i}_conv0")
        x = _conv_bn_relu(x, width, policy, name=f"block{i}_conv1")
        if not stem or i < len(filters) - 1:
            x = tf_keras.layers.MaxPooling2D(2, dtype=policy, name=f"block{i}_pool")(x)
    return x


def _residual_block(
    x: tf.Tensor, filters: int, strides: int, policy: Policy, name: str
) -> tf.Tensor:
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = tf_keras.layers.Conv2D(
            filters, 1, strides=strides, use_bias=False, dtype=policy, name=f"{name}_proj"
        )(x)
        shortcut = tf_keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM, dtype=policy, name=f"{name}_proj_bn"
        )(shortcut)
    y = _conv_bn_relu(x, filters, policy, strides=strides, name=f"{name}_a")
    y = tf_keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, dtype=policy, name=f"{name}_b"
    )(y)
    # Default gamma=1 here: zero-initialised gammas ("identity at init") measured
    # much slower to learn within a 20-epoch budget.
    bn = tf_keras.layers.BatchNormalization
    y = bn(momentum=BN_MOMENTUM, dtype=policy, name=f"{name}_b_bn")(y)
    y = tf_keras.layers.Add(dtype=policy, name=f"{name}_add")([shortcut, y])
    return tf_keras.layers.ReLU(dtype=policy, name=f"{name}_out")(y)


def _resnet_body(x: tf.Tensor, filters: Sequence[int], policy: Policy) -> tf.Tensor:
    """A small ResNet: stem conv, then per width one residual block and max-pool.

    Same spatial plan (and receptive field) as the convnet; downsampling by
    stride-2 blocks instead measured far slower to learn on the shapes demo.
    """
    x = _conv_bn_relu(x, filters[0], policy, name="stem")
    for i, width in enumerate(filters):
        x = _residual_block(x, width, 1, policy, name=f"res{i}")
        x = tf_keras.layers.MaxPooling2D(2, dtype=policy, name=f"res{i}_pool")(x)
    return x


def _compact_body(x: tf.Tensor, filters: Sequence[int], policy: Policy) -> tf.Tensor:
    """keras-io's MNIST convnet: per width one 3x3 conv + ReLU (bias, no BatchNorm)
    then 2x2 max-pooling; "same" padding so 8 px inputs still fit."""
    for i, width in enumerate(filters):
        x = tf_keras.layers.Conv2D(
            width, 3, padding="same", activation="relu", dtype=policy, name=f"compact{i}_conv"
        )(x)
        x = tf_keras.layers.MaxPooling2D(2, dtype=policy, name=f"compact{i}_pool")(x)
    return x


def build_model(
    input_shape: Sequence[int],
    num_classes: int,
    arch: str = "convnet",
    filters: Sequence[int] = DEFAULT_FILTERS,
    dropout: float = 0.3,
    mixed_precision: bool = False,
    weights: str = "none",
    stem: bool | None = None,
) -> tf_keras.Model:
    """Builds an uncompiled image classifier.

    Args:
      input_shape: (S, S, C) of the transformed image.
      num_classes: K, the width of the softmax output.
      arch: "compact" (keras-io's MNIST convnet), "convnet" (conv/BN/pool blocks),
        "resnet" (small residual net) or one of the pretrained backbones
        (`models.cnn.backbones`).
      filters: channel width per stage; each stage halves the resolution
        (compact/convnet/resnet only).
      dropout: dropout rate before the classifier.
      mixed_precision: compute in float16 (GPU only); the softmax stays float32.
      weights: backbones only: "imagenet", "none" or a weights file.
      stem: convnet only: a full-resolution conv and `SpaceToDepth` before the
        stages; None: above `limits.SMALL_IMAGE_MAX_SIZE` px.

    Returns:
      A `tf_keras.Model` mapping float32 [N, S, S, C] to probabilities [N, K].
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if arch in limits.BACKBONES:
        return backbones.build_backbone_model(
            arch, input_shape, num_classes, weights, dropout, mixed_precision
        )
    if weights != "none":
        raise ValueError(f"arch {arch!r} trains from scratch: weights must be 'none'")
    if not filters:
        raise ValueError("filters must name at least one stage width, got an empty sequence")
    if stem and arch != "convnet":
        raise ValueError(f"stem applies to arch 'convnet' only, got arch {arch!r}")
    policy = _policy(mixed_precision)
    inputs = tf_keras.Input(shape=tuple(input_shape), dtype=tf.float32, name=INPUT_NAME)
    if arch == "compact":
        # Flatten, not global pooling: at 7x7x64 the position of a stroke is the signal.
        body = _compact_body(inputs, filters, policy)
        outputs = classifier_head(body, num_classes, dropout, policy, flatten=True)
        return tf_keras.Model(inputs, outputs, name=arch)
    if arch == "convnet":
        body = _convnet_body(inputs, filters, policy, limits.uses_stem(input_shape[0], stem))
    else:
        body = _resnet_body(inputs, filters, policy)
    outputs = classifier_head(body, num_classes, dropout, policy)
    return tf_keras.Model(inputs, outputs, name=arch)


def learning_rate_schedule(
    learning_rate: float, schedule: str = "cosine", decay_steps: int | None = None
) -> float | tf_keras.optimizers.schedules.LearningRateSchedule:
    """Returns a constant rate or a cosine decay over `decay_steps` optimizer steps."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if learning_rate < 0:
        raise ValueError(f"learning_rate must be >= 0, got {learning_rate}")
    if schedule == "constant" or not decay_steps:
        return learning_rate
    return tf_keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=int(decay_steps), alpha=0.01
    )


def make_optimizer(
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    schedule: str = "cosine",
    decay_steps: int | None = None,
    momentum: float = 0.9,
) -> tf_keras.optimizers.Optimizer:
    """Adam, SGD with Nesterov momentum, or RMSprop, with the given schedule."""
    lr = learning_rate_schedule(learning_rate, schedule, decay_steps)
    if optimizer == "adam":
        return tf_keras.optimizers.Adam(learning_rate=lr)
    if optimizer == "sgd":
        return tf_keras.optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=True)
    if optimizer == "rmsprop":
        return tf_keras.optimizers.RMSprop(learning_rate=lr)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")


class SmoothedSparseCrossentropy(tf_keras.losses.Loss):
    """Cross-entropy of integer labels against smoothed one-hot targets.

    tf_keras' SparseCategoricalCrossentropy has no `label_smoothing`; this
    one-hots the labels and uses CategoricalCrossentropy's.
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_crossentropy") -> None:
        super().__init__(name=name)
        self.label_smoothing = label_smoothing
        self._ce = tf_keras.losses.CategoricalCrossentropy(
            label_smoothing=label_smoothing, reduction=tf_keras.losses.Reduction.NONE
        )

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        return self._ce(tf.one_hot(labels, tf.shape(y_pred)[-1], dtype=y_pred.dtype), y_pred)

    def get_config(self) -> dict:
        return {"label_smoothing": self.label_smoothing, "name": self.name}


def compile_model(
    model: tf_keras.Model,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    schedule: str = "cosine",
    decay_steps: int | None = None,
    mixed_precision: bool = False,
    label_smoothing: float = 0.0,
) -> tf_keras.Model:
    """Compiles `model` for sparse integer labels with loss and accuracy; returns it.

    The optimizer's slots are made here for the trainable weights, so the first
    call of the train step creates no variables and TensorFlow traces it once
    instead of twice (a tf.function that creates variables is traced again
    without them)."""
    opt = make_optimizer(optimizer, learning_rate, schedule, decay_steps)
    if mixed_precision:
        opt = tf_keras.mixed_precision.LossScaleOptimizer(opt)
    loss = (
        SmoothedSparseCrossentropy(label_smoothing)
        if label_smoothing
        else tf_keras.losses.SparseCategoricalCrossentropy()
    )
    model.compile(
        optimizer=opt,
        loss=loss,
        metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    opt.build(model.trainable_variables)
    return model
