"""Bounds on the trainer's values, importable without TensorFlow.

`TrainerConfig` (inside the Trainer) and `ImagePipelineConfig` (on the command
line, before anything runs) check against the same numbers.
"""

from __future__ import annotations

MIN_IMAGE_SIZE = 8
"""Smallest side images may be resized to: each of the default three conv
stages halves it (at 4 px the second pooling fails on a negative size)."""
MAX_IMAGE_SIZE = 512
"""Largest side: at 512 px one batch of 32 already holds 2 GB of first-stage
activations; larger is a typo, not a setting."""
MAX_BATCH_SIZE = 4096
"""Largest global batch size."""
MAX_EPOCHS = 10_000
"""Largest epoch budget."""
MAX_LEARNING_RATE = 1.0
"""Largest peak learning rate (Adam, SGD and RMSprop all diverge far below it)."""

SMALL_ARCHITECTURES = ("compact", "convnet", "resnet")
"""Trained from scratch, defined in models/cnn/model.py."""
BACKBONES = ("mobilenet_v3_small", "efficientnet_v2_b0", "resnet50")
"""tf_keras.applications backbones (models/cnn/backbones.py), fine-tuned with a new head."""
ARCHITECTURES = SMALL_ARCHITECTURES + BACKBONES
"""Every value `arch` may take, on the command line and in the Trainer."""
SMALL_IMAGE_MAX_SIZE = 28
"""Largest image side that gets `SMALL_IMAGE_FILTERS` when `filters` is unset
(MNIST's side; see `SMALL_IMAGE_FILTERS` for why not 32)."""
OPTIMIZERS = ("adam", "sgd", "rmsprop")
"""Optimizers `optimizer` may name."""
SCHEDULES = ("cosine", "constant")
"""Learning-rate schedules `schedule` may name."""
# Three stages: with two (64, 128) stages the receptive field at 32 px is too
# small to tell shapes apart (measured: ~0.3 train accuracy after 8 epochs on
# the shapes demo, versus 0.99 eval after 20 epochs with three stages).
# Above SMALL_IMAGE_MAX_SIZE the convnet runs these stages after its stem
# (STEM_FILTERS), on half the side: bench/shape_nets.py.
DEFAULT_FILTERS = (32, 64, 128)
"""Channel width per stage of convnet/resnet above `SMALL_IMAGE_MAX_SIZE` px."""
# Measured with bench/small_nets.py on 28 px real digits (held out by source
# digit): (16, 32, 64) reaches 0.99 after one epoch and 0.994-0.997 after
# two with a quarter of (32, 64, 128)'s multiply-adds, training about twice
# as many images per second (second epochs, 2 shared cores: 781 vs 391 img/s);
# (32, 64, 128) also reaches 0.99 in one epoch. keras-io's MNIST convnet
# ("compact") stays at 0.96-0.97 after two or three epochs. On the 32 px shapes demo
# (1,200 training images, 20 epochs) (16, 32, 64) reached only 0.95 and
# compact 0.74, against 0.99 for (32, 64, 128): so 32 px keeps the wide net.
SMALL_IMAGE_FILTERS = (16, 32, 64)
"""Channel width per stage of convnet/resnet up to `SMALL_IMAGE_MAX_SIZE` px."""
# Measured on the 32 px shapes demo (the Trainer's run_fn on the demo
# pipeline's Transform output, 20 epochs (then the default), 741 steps, seeds 42, 7,
# 1, 2, 3; docs/performance.md; bench/shape_nets.py --accuracy runs both
# through `vrl run image`): after the stem,
# (24, 48, 96) reached 0.984, 0.984, 0.981, 0.981, 0.981 eval accuracy against
# 0.987, 0.978, 0.975, 0.987, 0.972 for (32, 64, 128), at 0.92x its CPU per
# step; (16, 32, 64) without the stem 0.972 and 0.975 (seeds 42, 7), the stem's
# first stage with a 1x1 conv 0.962, and (24, 48, 96) in 16 epochs 0.972.
NARROW_STEM_FILTERS = (24, 48, 96)
"""Channel width per stage of the convnet after its stem, above `SMALL_IMAGE_MAX_SIZE`
px up to `NARROW_STEM_MAX_SIZE` px; larger inputs keep `DEFAULT_FILTERS`."""
NARROW_STEM_MAX_SIZE = 32
"""Largest side (the pipeline's default image_size) given `NARROW_STEM_FILTERS`."""
STEM_FILTERS = 16
"""Channels of the convnet's full-resolution stem conv above `SMALL_IMAGE_MAX_SIZE` px
(models/cnn/model.py: `_convnet_body`)."""
COMPACT_FILTERS = (32, 64)
"""Channel width per stage of the compact net (keras-io's MNIST convnet)."""


def default_filters(arch: str, image_side: int, stem: bool | None = None) -> tuple[int, ...]:
    """Stage widths of `arch` for images of `image_side` px when `filters` is unset
    (`stem`: the convnet's setting, None for its default)."""
    if arch == "compact":
        return COMPACT_FILTERS
    if image_side <= SMALL_IMAGE_MAX_SIZE:
        return SMALL_IMAGE_FILTERS
    if arch == "convnet" and uses_stem(image_side, stem) and image_side <= NARROW_STEM_MAX_SIZE:
        return NARROW_STEM_FILTERS
    return DEFAULT_FILTERS


def uses_stem(image_side: int, stem: bool | None = None) -> bool:
    """Whether the convnet starts with its stem: the `stem` setting, or when it is
    unset (None), whether images are larger than `SMALL_IMAGE_MAX_SIZE` px."""
    return image_side > SMALL_IMAGE_MAX_SIZE if stem is None else stem


WEIGHT_CHOICES = ("imagenet", "none")
"""`weights` is one of these or the path of a local weights file."""
MIN_BACKBONE_IMAGE_SIZE = 32
"""Smallest side the backbones accept (each downsamples by 32)."""
# Error analysis and TFLite export (models/cnn/error_analysis.py, tflite_export.py).
TFLITE_QUANTIZATIONS = ("float16", "dynamic")
"""Weight quantizations `--tflite` offers: float16 weights, or int8 weights with float activations."""
DEFAULT_TOP_K = (2, 5)
"""Top-k accuracies reported by TFMA and the error analysis (k >= the number of classes is skipped)."""
