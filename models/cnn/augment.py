"""Training-time augmentation and class weights.

Augmentation is a `tf.data` map over training batches only, never a layer of
the model: the exported graph, the evaluation pass and the Evaluator see the
images exactly as the transform graph made them, so "off at serving" holds
by construction rather than by a `training` flag.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
import tf_keras


def build_augmenter(
    image_size: int,
    rotation: float = 0.05,
    zoom: float = 0.1,
    contrast: float = 0.1,
    crop: float = 0.85,
    seed: int = 0,
) -> tf_keras.Sequential:
    """Random horizontal flip, rotation, zoom, contrast and crop (resized back to S).

    Input and output: float32 [N, S, S, 3] in [0, 1].
    """
    layers = [tf_keras.layers.RandomFlip("horizontal", seed=seed)]
    if rotation:
        layers.append(tf_keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 1))
    if zoom:
        layers.append(tf_keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2))
    if contrast:
        layers.append(tf_keras.layers.RandomContrast(contrast, seed=seed + 3))
    side = max(1, int(round(image_size * crop)))
    if side < image_size:
        layers.append(tf_keras.layers.RandomCrop(side, side, seed=seed + 4))
        layers.append(tf_keras.layers.Resizing(image_size, image_size))
    return tf_keras.Sequential(layers, name="augment")


def augment_dataset(ds: tf.data.Dataset, augmenter: tf_keras.Sequential) -> tf.data.Dataset:
    """Applies `augmenter` (in training mode) to the images of (image, label) batches,
    prefetched so the augmentation of the next batches overlaps the training step."""

    def _augment(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        out = augmenter(images, training=True)
        return tf.clip_by_value(out, 0.0, 1.0), labels

    return ds.map(_augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def class_weights(counts: Mapping[int, int], min_ratio: float = 1.5) -> dict[int, float] | None:
    """n / (K * n_c) per class when largest/smallest count > `min_ratio`, else None.

    The weights average to 1 over the examples, so the loss keeps its scale
    (and ln(K) at init). Classes missing from the split get weight 1.
    """
    present = {int(c): int(n) for c, n in counts.items() if n > 0}
    if len(present) < 2 or max(present.values()) <= min_ratio * min(present.values()):
        return None
    total = sum(present.values())
    return {c: float(total / (len(present) * n)) for c, n in sorted(present.items())}


def label_counts(labels: np.ndarray) -> dict[int, int]:
    """Examples per label id."""
    ids, counts = np.unique(np.asarray(labels).reshape(-1), return_counts=True)
    return {int(i): int(n) for i, n in zip(ids, counts, strict=True)}
