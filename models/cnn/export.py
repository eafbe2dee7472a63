"""The trainer's export phase: SavedModel with both signatures, warmup file, TFLite copy.

Everything here lands inside `serving_model_dir`, so every pushed version
carries it: the SavedModel (`signatures.export_serving_model`), TF Serving's
warmup file built from real images of the data, and, when asked, the TFLite
flatbuffer with its labels (`tflite_export`); the analysis phase then
measures that TFLite copy against the network on the eval split.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow_transform as tft
import tf_keras

from contracts import warmup
from models.cnn import data, signatures, tflite_export

WARMUP_IMAGES = 3


def write_warmup(
    file_patterns: Sequence[str],
    tf_transform_output: tft.TFTransformOutput,
    shape: tuple,
    saved_model_dir: str,
    count: int = WARMUP_IMAGES,
) -> None:
    """TF Serving's warmup file from real images of the data (PNG-encoded transformed
    images), inside the export, so every pushed version warms up (in TF Serving and
    `vrl serve`) before serving."""
    images = data.png_images(file_patterns, tf_transform_output, shape, count)
    if images:
        warmup.write_warmup_file(saved_model_dir, warmup.image_requests("", images))


def export_model(
    net: tf_keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    label_names: Sequence[str],
    serving_model_dir: str,
    warmup_files: Sequence[str],
    tflite_quantization: str | None,
) -> bytes | None:
    """Writes the SavedModel, its warmup file and the optional TFLite copy; returns the
    TFLite flatbuffer (None without one) for the analysis phase to measure."""
    signatures.export_serving_model(net, tf_transform_output, label_names, serving_model_dir)
    shape = tuple(int(d) for d in net.input_shape[1:])
    write_warmup(warmup_files, tf_transform_output, shape, serving_model_dir)
    if not tflite_quantization:
        return None
    content = tflite_export.convert(net, tflite_quantization)
    tflite_export.write_export(serving_model_dir, content, list(label_names))
    return content
