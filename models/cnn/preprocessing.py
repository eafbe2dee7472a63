"""TFX Transform `preprocessing_fn`: decode, resize and scale images in the graph.

Transform runs with `materialize=False`, so this graph is applied twice from
the same SavedModel: by the Trainer's input pipeline (`tft_layer` in
`models.cnn.data`) and by the exported serving signatures. Training and
serving preprocessing therefore cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from models.cnn import features

DEFAULT_IMAGE_SIZE = 32
IMAGE_XF_KEY = features.transformed_name(features.IMAGE_KEY)
LABEL_XF_KEY = features.transformed_name(features.LABEL_KEY)


def image_size_from_config(custom_config: dict[str, Any] | None) -> int:
    """Reads `image_size` from a Transform/Trainer custom_config (default 32)."""
    size = (custom_config or {}).get("image_size", DEFAULT_IMAGE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ValueError(f"custom_config['image_size'] must be an int >= 4, got {size!r}")
    return size


def decode_and_resize(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decodes a batch of encoded images to float32 [N, S, S, 3] in [0, 1].

    Args:
      image_bytes: string tensor of encoded PNG/JPEG/GIF/BMP bytes, shape [N]
        or [N, 1] (TFX schemas with `infer_feature_shape=True` give [N, 1]).
      image_size: side S of the square output.
    """
    flat = tf.reshape(image_bytes, [-1])

    def _one(encoded: tf.Tensor) -> tf.Tensor:
        # channels=3 turns grayscale into RGB and drops an alpha channel, so
        # every stored layout reaches the model as RGB.
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.image.resize(image, [image_size, image_size], antialias=True)
        return tf.clip_by_value(image, 0.0, 1.0)

    return tf.map_fn(
        _one,
        flat,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
        parallel_iterations=16,
    )


def preprocessing_fn(
    inputs: dict[str, tf.Tensor], custom_config: dict[str, Any] | None = None
) -> dict[str, tf.Tensor]:
    """Called by name by TFX Transform: raw features to model inputs.

    Args:
      inputs: raw features (dense, shape [N, 1]) as written by ImageExampleGen.
      custom_config: optional; `image_size` (int, default 32).

    Returns:
      `image_xf` float32 [N, S, S, 3] scaled to [0, 1] and `label_xf` int64 [N].
      The label is only passed through; at serving time it is absent and TFT
      prunes it away.
    """
    image_size = image_size_from_config(custom_config)
    outputs = {IMAGE_XF_KEY: decode_and_resize(inputs[features.IMAGE_KEY], image_size)}
    if features.LABEL_KEY in inputs:
        outputs[LABEL_XF_KEY] = tf.cast(tf.reshape(inputs[features.LABEL_KEY], [-1]), tf.int64)
    return outputs
