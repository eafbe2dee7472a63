"""What the small CNNs and the pretrained backbones share: input name, BatchNorm
momentum and the classifier head.

Both `models.cnn.model` (convnet/resnet) and `models.cnn.backbones` end in the
same head; it lives here so neither of them imports the other.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from contracts import features

INPUT_NAME = features.transformed_name(features.IMAGE_KEY)
# Small datasets give few steps per epoch; Keras' default 0.99 (0.999 in the
# applications) leaves the moving statistics, which evaluation and serving use,
# lagging the weights for many epochs. Backbones trained from scratch get it too.
BN_MOMENTUM = 0.9


def classifier_head(
    features_map: tf.Tensor,
    num_classes: int,
    dropout: float,
    policy: tf_keras.mixed_precision.Policy | str,
    flatten: bool = False,
) -> tf.Tensor:
    """Global average pooling (or flattening), dropout, dense logits and a float32 softmax."""
    pool = tf_keras.layers.Flatten if flatten else tf_keras.layers.GlobalAveragePooling2D
    x = pool(dtype=policy, name="pool")(features_map)
    x = tf_keras.layers.Dropout(dropout, dtype=policy, name="dropout")(x)
    # Small initial logits make the loss at init ~ln(K) (Karpathy's "init well").
    logits = tf_keras.layers.Dense(
        num_classes,
        kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.01, seed=0),
        dtype=policy,
        name="logits",
    )(x)
    return tf_keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
