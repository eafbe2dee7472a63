"""Optional TFLite export of the trained CNN, pushed inside the SavedModel's folder.

The serving signatures take encoded image bytes and decode them with
TensorFlow ops TFLite does not have, so the TFLite model is the Keras network
alone: input `image_xf`, float32 [N, S, S, 3], the image as the network
receives it (the Transform graph's uint8 pixels: decoded, RGB, resized to
S x S; divided by 255); output `probabilities`, float32 [N, K]. A phone app decodes and
resizes the photo itself and feeds that tensor; `labels.txt` names the K
columns.

Layout inside the exported (and so the pushed) version folder, as TFX's
CIFAR-10 example did:

    <version>/tflite/model.tflite   the converted network
    <version>/tflite/labels.txt     one class name per line, line = column
    <version>/tflite/report.json    quantization, input contract, sizes and the
                                    eval accuracy of this file against the SavedModel's

TF Serving loads only the SavedModel files of a version (and, with
--prefer_tflite_model, a `model.tflite` at the version's top level, which
this layout avoids), so the extra folder changes nothing for serving.
"""

from __future__ import annotations

import json
import math
import posixpath
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras

from models.cnn import limits

TFLITE_DIR = "tflite"
MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.txt"
REPORT_FILE = "report.json"
QUANTIZATIONS = limits.TFLITE_QUANTIZATIONS


def convert(net: tf_keras.Model, quantization: str) -> bytes:
    """The network as a TFLite flatbuffer, weights quantized as asked.

    'dynamic': weights stored as int8, activations computed in float
    (dynamic-range quantization, about 4x smaller); 'float16': weights stored
    as float16 (about 2x smaller, near-identical outputs).
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"tflite quantization must be one of {QUANTIZATIONS}, got {quantization!r}"
        )
    shape = [None, *net.input_shape[1:]]

    # A fixed float32 input whatever the training policy (mixed precision casts inside).
    # autograph=False: no Python control flow to convert, and converting the Keras
    # call costs seconds.
    @tf.function(
        input_signature=[tf.TensorSpec(shape, tf.float32, name="image_xf")], autograph=False
    )
    def infer(image_xf: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": tf.cast(net(image_xf, training=False), tf.float32)}

    # The converter saves the function with the object that tracks its variables. A
    # plain module holding the weights, not the Keras model: saving the model would
    # trace every layer's call again (about 10 of 11 s of a first conversion).
    weights = tf.Module()
    weights.variables_ = list(net.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [infer.get_concrete_function()], weights
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


class TFLiteClassifier:
    """Runs a TFLite classifier on batches of image tensors with `tf.lite.Interpreter`."""

    def __init__(self, model_content: bytes) -> None:
        self._interpreter = tf.lite.Interpreter(model_content=model_content)
        (self._input,) = self._interpreter.get_input_details()
        (self._output,) = self._interpreter.get_output_details()
        self._batch = -1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(S, S, 3) of one input image."""
        return tuple(int(d) for d in self._input["shape"][1:])

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities [N, K] for float32 images [N, S, S, 3] in [0, 1]."""
        images = np.asarray(images, dtype=np.float32)
        if images.shape[1:] != tuple(self._input["shape"][1:]):
            raise ValueError(
                f"TFLite model takes images {tuple(self._input['shape'][1:])}, got {images.shape[1:]}"
            )
        if len(images) != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], images.shape)
            self._interpreter.allocate_tensors()
            self._batch = len(images)
        self._interpreter.set_tensor(self._input["index"], images)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).copy()


def compare(labels: np.ndarray, saved_probs: np.ndarray, tflite_probs: np.ndarray) -> dict:
    """Accuracy of both models on the same examples, the drop, and how often they agree."""
    labels = np.asarray(labels)
    if not len(labels):
        raise ValueError("no eval examples: cannot measure the TFLite model's accuracy")
    saved_pred, lite_pred = saved_probs.argmax(axis=1), tflite_probs.argmax(axis=1)
    saved_acc = float((saved_pred == labels).mean())
    lite_acc = float((lite_pred == labels).mean())
    return {
        "examples": len(labels),
        "label_classes": len(np.unique(labels)),
        "saved_model_predicted_classes": len(np.unique(saved_pred)),
        "tflite_predicted_classes": len(np.unique(lite_pred)),
        "saved_model_accuracy": saved_acc,
        "tflite_accuracy": lite_acc,
        "accuracy_drop": saved_acc - lite_acc,
        "same_prediction": float((saved_pred == lite_pred).mean()),
        "max_probability_difference": float(np.abs(saved_probs - tflite_probs).max()),
    }


def gate_reason(report: dict[str, Any], max_drop: float) -> str | None:
    """Why the TFLite model fails the gate, or None: its accuracy drop exceeds
    `max_drop`, or either copy answers one class for eval examples of several (two
    equally constant copies agree perfectly, which is no parity worth passing)."""
    drop = report.get("accuracy_drop")
    if drop is None or not math.isfinite(drop):
        return f"TFLite report holds no accuracy_drop: {report}"
    if report.get("label_classes", 0) >= 2:
        for copy in ("saved_model", "tflite"):
            if report.get(f"{copy}_predicted_classes") == 1:
                return (
                    f"the {copy.replace('_', ' ')} predicts one class for all "
                    f"{report.get('examples')} eval examples of {report['label_classes']} "
                    "classes: a constant model passes no TFLite check"
                )
    if drop > max_drop:
        return (
            f"TFLite ({report.get('quantization')}) eval accuracy "
            f"{report['tflite_accuracy']:.4f} is {drop:.4f} below the SavedModel's "
            f"{report['saved_model_accuracy']:.4f}; the maximum allowed drop is {max_drop:.4f} "
            "(--tflite-max-drop)"
        )
    return None


def write_export(serving_model_dir: str, model_content: bytes, label_names: list[str]) -> str:
    """Writes model.tflite and labels.txt into `<serving_model_dir>/tflite/`; returns the folder."""
    folder = posixpath.join(serving_model_dir, TFLITE_DIR)
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(posixpath.join(folder, MODEL_FILE), "wb") as f:
        f.write(model_content)
    with tf.io.gfile.GFile(posixpath.join(folder, LABELS_FILE), "w") as f:
        f.write("".join(f"{name}\n" for name in label_names))
    return folder


def write_report(
    serving_model_dir: str,
    comparison: dict[str, Any],
    quantization: str,
    input_shape: tuple[int, ...],
    tflite_bytes: int,
) -> dict[str, Any]:
    """Writes tflite/report.json (comparison, contract, sizes); returns its content."""
    report = {
        "quantization": quantization,
        "input": {
            "name": "image_xf",
            "dtype": "float32",
            "shape": [None, *input_shape],
            "range": [0.0, 1.0],
            "meaning": "decoded RGB image resized to the model's side, as the Transform graph "
            "outputs it",
        },
        "output": {"name": "probabilities", "dtype": "float32", "columns": LABELS_FILE},
        "tflite_bytes": tflite_bytes,
        "saved_model_variables_bytes": _variables_bytes(serving_model_dir),
        **comparison,
    }
    path = posixpath.join(serving_model_dir, TFLITE_DIR, REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    return report


def read_report(serving_model_dir: str) -> dict[str, Any] | None:
    """tflite/report.json of an exported or pushed model, or None when there is no TFLite export."""
    path = posixpath.join(serving_model_dir, TFLITE_DIR, REPORT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _variables_bytes(serving_model_dir: str) -> int:
    """Size of the SavedModel's weights (`variables/`), to compare with the TFLite file."""
    folder = posixpath.join(serving_model_dir, "variables")
    return sum(
        tf.io.gfile.stat(posixpath.join(folder, name)).length
        for name in tf.io.gfile.listdir(folder)
        if not tf.io.gfile.isdir(posixpath.join(folder, name))
    )
