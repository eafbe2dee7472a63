"""Feature keys and the tf.Example contract shared by ExampleGen, Transform,
the Keras model, the serving signatures and the Evaluator config; and the
names of the policy's plain serving signature.

Every raw example written by ImageExampleGen has exactly these features.
"""

# Raw tf.Example features (written by components/image_example_gen).
IMAGE_KEY = "image"  # bytes: the encoded file as it was on disk (PNG/JPEG/...)
LABEL_KEY = "label"  # int64: index into the label vocabulary
LABEL_NAME_KEY = "label_name"  # bytes: the class name
HEIGHT_KEY = "height"  # int64: decoded height in pixels
WIDTH_KEY = "width"  # int64: decoded width in pixels
CHANNELS_KEY = "channels"  # int64: channels of the file as stored (1 gray, 2 gray+alpha, 3, 4)
FORMAT_KEY = "format"  # bytes: lower-case format name, e.g. b"png", b"jpeg"
SHA256_KEY = "sha256"  # bytes: hex sha256 of the encoded bytes

RAW_FEATURE_KEYS = (
    IMAGE_KEY,
    LABEL_KEY,
    LABEL_NAME_KEY,
    HEIGHT_KEY,
    WIDTH_KEY,
    CHANNELS_KEY,
    FORMAT_KEY,
    SHA256_KEY,
)

# Label vocabulary saved next to the examples (one class name per line, line
# number = label id), at the root of the Examples artifact.
LABEL_VOCAB_FILENAME = "label_vocab.txt"

# Serving contract (see DESIGN.md): the default signature takes raw encoded
# image bytes; the examples signature takes serialized tf.Example.
SERVING_INPUT_KEY = "image_bytes"
EXAMPLES_SIGNATURE = "serving_examples"
EXAMPLES_INPUT_KEY = "examples"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLASS_IDS = "class_ids"
OUTPUT_LABEL_NAMES = "label_names"
# Every class name, index-aligned with the probabilities ([N, K]; TF Serving's
# classification convention), so clients can name the top-k without the vocabulary.
OUTPUT_CLASSES = "classes"


# Serving contract of a policy's plain signature (models/dqn/export.py, see
# DESIGN.md "Policy signatures"): float32 [N, D] vectors or uint8 [N, H, W, C]
# frames in, the greedy action and the Q-values out.
SERVING_SIGNATURE = "serving_default"
OBSERVATION_KEY = "observation"
ACTION_KEY = "action"
Q_VALUES_KEY = "q_values"


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return key + "_xf"
