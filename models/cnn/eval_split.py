"""The trainer's analysis phase: the exported model on the eval split, for error analysis
and the TFLite check.

run_fn calls `analyze_export` once the export phase has written the SavedModel
(and the TFLite copy). It reads
Transform's materialised eval split in batches (the pixels the exported
SavedModel's `serving_examples` signature computes from the raw examples; the
end-to-end test checks that the resulting confusion matrix equals the one
TFMA computes from the SavedModel) and feeds them to the trained network and,
with a TFLite export, to the TFLite interpreter, so both accuracies are
measured on identical inputs. Only the few most confidently wrong images are
kept, PNG-encoded as the model saw them. Loading the SavedModel back instead
would cost a trace of the transform graph for the same numbers.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging

from models.cnn import data, error_analysis, tflite_export
from models.cnn.preprocessing import to_unit_range

BATCH = 128


class _WrongImages:
    """The images of the most confidently wrong examples seen so far (bounded)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.images: dict[int, tuple[float, bytes]] = {}

    def add(self, start: int, labels, probs, pixels) -> None:
        predicted = probs.argmax(axis=1)
        for i in np.flatnonzero(predicted != labels):
            self.images[start + int(i)] = (float(probs[i].max()), pixels[i])
        if len(self.images) > self.keep:
            best = sorted(self.images.items(), key=lambda kv: (-kv[1][0], kv[0]))[: self.keep]
            self.images = dict(best)

    def by_index(self) -> dict[int, bytes]:
        """Example index -> PNG of the kept images."""
        return {i: tf.io.encode_png(image).numpy() for i, (_, image) in self.images.items()}


def predict_eval_split(
    net: tf_keras.Model,
    eval_files: Sequence[str],
    tf_transform_output: tft.TFTransformOutput,
    tflite: tflite_export.TFLiteClassifier | None = None,
) -> dict[str, Any]:
    """Labels, the network's probabilities, TFLite probabilities (or None) and wrong images."""
    shape = [int(d) for d in net.input_shape[1:]]
    labels, saved, lite = [], [], []
    wrong = _WrongImages(error_analysis.WRONG_SHOWN)
    seen = 0
    for pixels, label_batch in data.pixel_dataset(eval_files, tf_transform_output, shape).batch(
        BATCH
    ):
        batch_labels = label_batch.numpy()
        images = to_unit_range(pixels)
        probs = tf.cast(net(images, training=False), tf.float32).numpy()
        if tflite is not None:
            lite.append(tflite.predict(images.numpy()))
        wrong.add(seen, batch_labels, probs, pixels.numpy())
        labels.append(batch_labels)
        saved.append(probs)
        seen += len(batch_labels)
    if not labels:
        raise ValueError(f"eval split {list(eval_files)} holds no examples to analyse")
    return {
        "labels": np.concatenate(labels),
        "saved_probs": np.concatenate(saved),
        "tflite_probs": np.concatenate(lite) if lite else None,
        "wrong_images": wrong.by_index(),
    }


def analyze_export(
    net: tf_keras.Model,
    eval_files: Sequence[str],
    tf_transform_output: tft.TFTransformOutput,
    serving_model_dir: str,
    model_run_dir: str,
    label_names: list[str],
    top_k: Sequence[int],
    tflite_content: bytes | None = None,
    tflite_quantization: str | None = None,
) -> dict[str, Any]:
    """The trainer's analysis phase: error analysis into `<model_run_dir>/error_analysis/`
    and, for a TFLite export (`tflite_content`, written by the export phase), its
    accuracy against the network's into tflite/report.json; returns both summaries."""
    tflite = tflite_export.TFLiteClassifier(tflite_content) if tflite_content else None
    predictions = predict_eval_split(net, eval_files, tf_transform_output, tflite)
    labels, saved_probs = predictions["labels"], predictions["saved_probs"]
    analysis = error_analysis.write_outputs(
        model_run_dir, labels, saved_probs, label_names, top_k, predictions["wrong_images"]
    )
    logging.info(
        "Error analysis: accuracy %.4f, top-k %s -> %s",
        analysis["accuracy"],
        analysis["top_k_accuracy"],
        posixpath.join(model_run_dir, error_analysis.OUTPUT_DIR),
    )
    result: dict[str, Any] = {"error_analysis": analysis}
    if tflite is not None:
        comparison = tflite_export.compare(labels, saved_probs, predictions["tflite_probs"])
        result["tflite"] = tflite_export.write_report(
            serving_model_dir,
            comparison,
            tflite_quantization or "",
            tuple(int(d) for d in net.input_shape[1:]),
            len(tflite_content or b""),
        )
        logging.info("TFLite export: %s", result["tflite"])
    return result
