"""Pretrained backbones from `tf_keras.applications` with a new classification head.

The model's input is the transformed image (float32 [N, S, S, 3] in [0, 1]),
as for the small CNNs. Each backbone's own input scaling is a layer of the
model, so it is part of every exported graph and serving still takes raw
image bytes.

BatchNorm, as Keras' transfer-learning guide does it: a pretrained backbone
is called with `training=False`, so its BatchNorm layers use their moving
statistics in both fine-tuning phases (updating them on a few hundred photos
undoes the pretraining). A backbone trained from scratch ("none") is called
in the model's own mode, so its BatchNorm layers normalise by batch
statistics while training; their momentum is lowered to the small CNNs'
(`head.BN_MOMENTUM`) so the moving statistics that evaluation and serving
use follow the weights within a few dozen steps (the applications' 0.999
needs thousands).

Weights: "imagenet" is Keras' published checkpoint, downloaded once on the
user's machine into ~/.keras/models/; a path loads a local Keras weights file
of the backbone without its top (for example that same published
`*_notop.h5` file copied to a machine without internet, or one saved with
`save_backbone_weights`); "none" trains from scratch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import tensorflow as tf
import tf_keras

from models.cnn import limits
from models.cnn.config import WEIGHTS_SHA256_KEY
from models.cnn.head import BN_MOMENTUM, INPUT_NAME, classifier_head

if TYPE_CHECKING:
    from models.cnn.config import TrainerConfig

BACKBONE_NAME = "backbone"
# MobileNetV3 and EfficientNetV2 rescale [0, 255] inputs themselves
# (include_preprocessing=True); ResNet50 wants caffe-style BGR minus the
# ImageNet mean, which `resnet50.preprocess_input` applies.
_FACTORIES = {
    "mobilenet_v3_small": ("MobileNetV3Small", True),
    "efficientnet_v2_b0": ("EfficientNetV2B0", True),
    "resnet50": ("ResNet50", False),
}


_HASH_CHUNK = 1 << 20


class WeightsError(ValueError):
    """`weights` names something that cannot be loaded into the backbone."""


@contextlib.contextmanager
def _global_policy(mixed_precision: bool) -> Iterator[None]:
    """Applications take no dtype argument: they build under the global policy."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def build_backbone(
    arch: str, input_shape: Sequence[int], weights: str = "none", mixed_precision: bool = False
) -> tf_keras.Model:
    """The application without its top, taking [0, 255] RGB; weights loaded as asked.

    Raises:
      WeightsError: the ImageNet download failed, or a weights file is
        missing or does not fit `arch`; the message says what to pass instead.
    """
    if arch not in _FACTORIES:
        raise ValueError(f"arch must be one of {limits.BACKBONES}, got {arch!r}")
    if weights not in limits.WEIGHT_CHOICES and not os.path.isfile(weights):
        raise WeightsError(
            f"weights file {weights} does not exist; pass an existing Keras weights file "
            f"(.h5 or .weights.h5) of the {arch} backbone without its top, 'imagenet' or 'none'"
        )
    factory_name, builtin_scaling = _FACTORIES[arch]
    factory = getattr(tf_keras.applications, factory_name)
    kwargs = {"include_preprocessing": True} if builtin_scaling else {}
    try:
        with _global_policy(mixed_precision):
            net = factory(
                input_shape=tuple(input_shape),
                include_top=False,
                weights=None if weights == "none" else weights,
                **kwargs,
            )
    except Exception as e:  # tf_keras raises a bare Exception for a failed download
        raise _weights_error(arch, weights, e) from e
    net._name = BACKBONE_NAME  # one name to find it by, whichever application it is
    return net


def _weights_error(arch: str, weights: str, e: Exception) -> Exception:
    if weights == "imagenet" and "URL fetch failure" in str(e):
        return WeightsError(
            f"--weights imagenet: Keras' published {arch} weights could not be downloaded "
            f"({str(e).splitlines()[0]}); pass --weights PATH (a local copy of the *_notop.h5 "
            "file) or --weights none to train from scratch"
        )
    if weights not in limits.WEIGHT_CHOICES and isinstance(e, (ValueError, OSError)):
        return WeightsError(
            f"weights file {weights} does not fit the {arch} backbone without its top: {e}"
        )
    return e


def input_scaling(arch: str, x: tf.Tensor, policy: str = "float32") -> tf.Tensor:
    """[0, 1] RGB to what the backbone expects: [0, 255] RGB, or caffe BGR minus mean."""
    x = tf_keras.layers.Rescaling(255.0, dtype=policy, name="to_0_255")(x)
    if _FACTORIES[arch][1]:
        return x
    # RGB -> BGR and minus the ImageNet channel means, as resnet50.preprocess_input.
    x = tf_keras.layers.Lambda(lambda t: t[..., ::-1], dtype=policy, name="rgb_to_bgr")(x)
    return tf_keras.layers.Normalization(
        mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0], dtype=policy, name="caffe_mean"
    )(x)


def build_backbone_model(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    weights: str = "none",
    dropout: float = 0.2,
    mixed_precision: bool = False,
) -> tf_keras.Model:
    """Backbone + global average pooling + dropout + softmax head, uncompiled.

    With pretrained weights the backbone starts frozen (phase 1 trains the
    head); with "none" every layer trains from the start.
    """
    policy = "mixed_float16" if mixed_precision else "float32"
    inputs = tf_keras.Input(shape=tuple(input_shape), dtype=tf.float32, name=INPUT_NAME)
    backbone = build_backbone(arch, input_shape, weights, mixed_precision)
    scaled = input_scaling(arch, inputs, policy)
    if weights == "none":
        set_batchnorm_momentum(backbone, BN_MOMENTUM)
        x = backbone(scaled)  # training mode while fitting: batch statistics
    else:
        backbone.trainable = False
        x = backbone(scaled, training=False)  # frozen statistics, in both phases
    outputs = classifier_head(x, num_classes, dropout, policy)
    return tf_keras.Model(inputs, outputs, name=arch)


def set_batchnorm_momentum(net: tf_keras.Model, momentum: float) -> int:
    """Sets the momentum of every BatchNorm layer of `net` (before its first call);
    returns how many were changed."""
    layers = [
        layer for layer in net.layers if isinstance(layer, tf_keras.layers.BatchNormalization)
    ]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)


def backbone_of(model: tf_keras.Model) -> tf_keras.Model | None:
    """The nested backbone of a model built by `build_backbone_model`, else None."""
    names = [layer.name for layer in model.layers]
    return model.get_layer(BACKBONE_NAME) if BACKBONE_NAME in names else None


def unfreeze_top(model: tf_keras.Model, layers: int) -> int:
    """Phase 2: makes the top `layers` backbone layers trainable, BatchNorm excepted.

    Returns the number of layers that became trainable. Compile again
    afterwards (Keras reads `trainable` at compile time).
    """
    backbone = backbone_of(model)
    if backbone is None:
        raise ValueError(f"model {model.name!r} has no {BACKBONE_NAME!r} layer to unfreeze")
    backbone.trainable = True
    cut = max(0, len(backbone.layers) - layers)
    unfrozen = 0
    for i, layer in enumerate(backbone.layers):
        is_bn = isinstance(layer, tf_keras.layers.BatchNormalization)
        layer.trainable = i >= cut and not is_bn
        unfrozen += int(layer.trainable and bool(layer.weights))
    return unfrozen


def save_backbone_weights(arch: str, image_size: int, path: str, weights: str = "none") -> str:
    """Writes a backbone's weights (random with "none") to `path`, a file `--weights` takes."""
    build_backbone(arch, (image_size, image_size, 3), weights).save_weights(path)
    return path


def check_weights(arch: str, weights: str | None, image_size: int) -> str:
    """Before a run: builds the backbone once so a bad `weights` fails now, not in the Trainer.

    For "imagenet" this is the one download (later builds read Keras' cache).
    Returns the resolved weights ("none" for convnet/resnet).
    """
    from models.cnn.config import TrainerConfig

    config = TrainerConfig(arch=arch, weights=weights, image_size=image_size)
    if config.pretrained:
        build_backbone(arch, (image_size, image_size, 3), config.resolved_weights)
        tf_keras.backend.clear_session()
    return config.resolved_weights


def weights_sha256(path: str) -> str:
    """Hex sha256 of a weights file's bytes (read in 1 MB chunks; ~0.3 s per 100 MB)."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights_sha256(weights: str, expected: str) -> None:
    """Raises WeightsError when the weights file's content is not the one the run was
    defined with (its sha256 entered the pipeline's cache key when it was wired)."""
    actual = weights_sha256(weights)
    if actual != expected:
        raise WeightsError(
            f"weights file {weights} changed after the pipeline was defined (sha256 {actual}, "
            f"expected {expected}); run the pipeline again so its cache key sees the new file"
        )


def trainer_config_checked(custom_config: Mapping[str, Any] | None) -> TrainerConfig:
    """The Trainer's config from its custom_config, after checking that a local weights
    file still has the sha256 recorded when the pipeline was defined."""
    from models.cnn.config import TrainerConfig

    values = dict(custom_config or {})
    expected = values.pop(WEIGHTS_SHA256_KEY, None)
    config = TrainerConfig.from_custom_config(values)
    if expected is not None:
        check_weights_sha256(config.resolved_weights, expected)
    return config
