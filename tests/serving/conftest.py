"""Fixtures for the serving tests: tiny SavedModels with the pushed models' exact signatures.

The CNN stand-in decodes and resizes image bytes and favours one class by a
large bias, so each version answers with a known label; the policy stand-in is
linear. Both are written with tf.saved_model.save, like the real exports.
"""

from __future__ import annotations

import os
import types

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from components.atomic_pusher.ops import atomic_push
from contracts import features
from serving.options import ServerOptions
from serving.server import start_server

LABELS = ("cat", "dog", "bird")
OBS_DIM = 4
NUM_ACTIONS = 2
IMAGE_SIZE = 8
MAX_REQUEST_BYTES = 1 << 20


class TinyCnn(tf.Module):
    """Decode + resize + linear softmax; `favoured` class wins on every input."""

    def __init__(self, favoured: int) -> None:
        super().__init__()
        rng = np.random.default_rng(favoured)
        dim = IMAGE_SIZE * IMAGE_SIZE * 3
        self.w = tf.Variable(rng.normal(size=(dim, len(LABELS))).astype("float32") * 0.01)
        self.b = tf.Variable(np.eye(len(LABELS), dtype="float32")[favoured] * 20.0)
        self.labels = tf.constant(LABELS)

    def _decode(self, image_bytes):
        def one(b):
            image = tf.io.decode_image(b, channels=3, expand_animations=False)
            return tf.image.resize(tf.cast(image, tf.float32) / 255.0, [IMAGE_SIZE, IMAGE_SIZE])

        return tf.map_fn(one, image_bytes, fn_output_signature=tf.float32)

    def _head(self, images):
        flat = tf.reshape(images, [-1, IMAGE_SIZE * IMAGE_SIZE * 3])
        probabilities = tf.nn.softmax(flat @ self.w + self.b)
        class_ids = tf.argmax(probabilities, axis=1)
        return probabilities, class_ids

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(self, image_bytes):
        probabilities, class_ids = self._head(self._decode(image_bytes))
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_LABEL_NAMES: tf.gather(self.labels, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        parsed = tf.io.parse_example(
            examples, {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        return self.serve_bytes(parsed[features.IMAGE_KEY])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        out = self.serve_examples(inputs)
        n = tf.shape(inputs)[0]
        return {"classes": tf.tile(self.labels[None, :], [n, 1]), "scores": out["probabilities"]}


class LinearPolicy(tf.Module):
    """Greedy linear Q policy with TF-Agents-like `action` and a plain `serving_default`."""

    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable(np.array([[1, -1], [2, -2], [0, 0], [0, 0]], dtype="float32"))

    @tf.function(input_signature=[tf.TensorSpec([None, OBS_DIM], tf.float32, name="observation")])
    def serve(self, observation):
        q_values = observation @ self.w
        return {"action": tf.argmax(q_values, axis=1), "q_values": q_values}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32, name="0/step_type"),
            tf.TensorSpec([None], tf.float32, name="0/reward"),
            tf.TensorSpec([None], tf.float32, name="0/discount"),
            tf.TensorSpec([None, OBS_DIM], tf.float32, name="0/observation"),
        ]
    )
    def action(self, step_type, reward, discount, observation):
        return {"action": self.serve(observation)["action"]}


def _set_method_name(path: str, signature: str, method: str) -> None:
    """TF2 saving marks every signature as predict; a classify signature needs its method name."""
    pb = os.path.join(path, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        saved.ParseFromString(f.read())
    saved.meta_graphs[0].signature_def[signature].method_name = method
    with open(pb, "wb") as f:
        f.write(saved.SerializeToString())


def save_cnn(path: str, favoured: int) -> str:
    """Writes a TinyCnn SavedModel with serving_default, serving_examples and classify."""
    module = TinyCnn(favoured)
    tf.saved_model.save(
        module,
        path,
        signatures={
            "serving_default": module.serve_bytes,
            features.EXAMPLES_SIGNATURE: module.serve_examples,
            "classify": module.classify,
        },
    )
    _set_method_name(path, "classify", "tensorflow/serving/classify")
    return path


def save_policy(path: str) -> str:
    """Writes a LinearPolicy SavedModel with `action` and `serving_default`."""
    module = LinearPolicy()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve, "action": module.action}
    )
    return path


def push(src: str, model_dir: str, version: int) -> str:
    """Atomic push with the pipeline's own pusher code: stage in a hidden folder, then rename."""
    return atomic_push(src, model_dir, version=version)


def png_bytes(seed: int = 0, size: int = 16) -> bytes:
    """A random RGB PNG."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return tf.io.encode_png(pixels).numpy()


def jpeg_bytes(seed: int = 0, size: int = 16) -> bytes:
    """A random RGB JPEG."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(pixels).numpy()


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict[str, str]:
    """SavedModels written once per session: cnn favouring cat (v1) and dog (v2), a policy."""
    root = tmp_path_factory.mktemp("exported")
    return {
        "cnn_v1": save_cnn(str(root / "cnn_v1"), favoured=0),
        "cnn_v2": save_cnn(str(root / "cnn_v2"), favoured=1),
        "policy": save_policy(str(root / "policy")),
    }


@pytest.fixture(scope="session")
def model_base(tmp_path_factory, exported) -> str:
    """A base path with cnn version 1 and policy version 1 pushed (read-only for tests)."""
    base = str(tmp_path_factory.mktemp("model_base"))
    push(exported["cnn_v1"], os.path.join(base, "cnn"), 1)
    push(exported["policy"], os.path.join(base, "policy"), 1)
    # A push in progress must be ignored.
    os.makedirs(os.path.join(base, "cnn", ".staging-9-abcd"))
    return base


@pytest.fixture(scope="session")
def server(model_base):
    """A server on free loopback ports serving `model_base`, shared by every test file that
    only sends requests (one start per test process); stopped after the session."""
    handle = start_server(
        ServerOptions(
            model_base=model_base,
            grpc_port=0,
            rest_port=0,
            poll_seconds=0.5,
            max_request_bytes=MAX_REQUEST_BYTES,
        )
    )
    handle.wait_until_available("cnn", timeout=60)
    handle.wait_until_available("policy", timeout=60)
    yield handle
    handle.stop()


def write_logging_config(
    path, base_path: str, prefix: str | None, rate: float = 1.0, name: str = "cnn"
) -> str:
    """Writes a one-model ModelServerConfig file, with a logging_config to `prefix`
    (None: none) sampling `rate`; returns its path."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(
        name=name, base_path=base_path, model_platform="tensorflow"
    )
    if prefix is not None:
        model.logging_config.log_collector_config.type = "tfrecord"
        model.logging_config.log_collector_config.filename_prefix = prefix
        model.logging_config.sampling_config.sampling_rate = rate
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    return str(path)


@pytest.fixture(scope="session")
def helpers() -> types.SimpleNamespace:
    """The module's helpers for test files (conftest is not importable as a module)."""
    return types.SimpleNamespace(
        LABELS=LABELS,
        OBS_DIM=OBS_DIM,
        MAX_REQUEST_BYTES=MAX_REQUEST_BYTES,
        png_bytes=png_bytes,
        jpeg_bytes=jpeg_bytes,
        push=push,
        save_cnn=save_cnn,
        mnist_digit=mnist_digit,
        write_logging_config=write_logging_config,
    )


# Models exported the way TF Serving's own examples export them, not by this project.

MNIST_PIXELS = 784


def save_mnist_tf1(path: str) -> str:
    """TF Serving's mnist_saved_model.py shape: TF1 SavedModelBuilder, `predict_images`
    (input `images`, outputs `scores` and `classes`) and a classification `serving_default`.

    Digit d lights the pixels whose index is d modulo 10, and the weights read exactly that.
    """
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as sess:
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([MNIST_PIXELS], tf.float32)})
        x = tf.identity(parsed["x"], name="x")
        kernel = np.zeros((MNIST_PIXELS, 10), np.float32)
        kernel[np.arange(MNIST_PIXELS), np.arange(MNIST_PIXELS) % 10] = 0.1
        w = v1.Variable(kernel, name="w")
        b = v1.Variable(np.zeros(10, np.float32), name="b")
        y = tf.nn.softmax(tf.matmul(x, w) + b, name="y")
        values, indices = tf.nn.top_k(y, 10)
        classes = tf.gather(tf.constant([str(i) for i in range(10)]), indices)
        sess.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        sig = v1.saved_model.signature_def_utils.build_signature_def
        builder = v1.saved_model.Builder(path)
        builder.add_meta_graph_and_variables(
            sess,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map={
                "predict_images": sig(
                    inputs={"images": info(x)},
                    outputs={"scores": info(y), "classes": info(classes)},
                    method_name="tensorflow/serving/predict",
                ),
                "serving_default": sig(
                    inputs={"inputs": info(serialized)},
                    outputs={"classes": info(classes), "scores": info(values)},
                    method_name="tensorflow/serving/classify",
                ),
            },
            main_op=v1.tables_initializer(),
            strip_default_attrs=True,
        )
        builder.save()
    return path


def mnist_digit(digit: int, noise_seed: int | None = None) -> np.ndarray:
    """A 784-pixel "image" of `digit` for save_mnist_tf1 (optionally with a little noise)."""
    image = (np.arange(MNIST_PIXELS) % 10 == digit).astype(np.float32)
    if noise_seed is not None:
        image += np.random.default_rng(noise_seed).uniform(0, 0.05, MNIST_PIXELS).astype("f")
    return image


def save_keras_classifier(path: str) -> str:
    """A tf.keras model saved with model.save (Keras 2 SavedModel), as resnet examples are:
    input `input_1` [None, 8], output `probs`; one-hot input k < 3 is class k."""
    keras = tf.keras
    inputs = keras.Input(shape=(8,), name="input_1")
    logits = keras.layers.Dense(3, name="dense")(inputs)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(logits))
    model.get_layer("dense").set_weights([np.eye(8, 3, dtype=np.float32) * 5, np.zeros(3, "f")])
    model.save(path)
    return path


@pytest.fixture(scope="session")
def foreign_models(tmp_path_factory) -> dict[str, str]:
    """The MNIST-style TF1 SavedModel and the Keras SavedModel, written once per session."""
    root = tmp_path_factory.mktemp("foreign")
    return {
        "mnist": save_mnist_tf1(str(root / "mnist")),
        "keras": save_keras_classifier(str(root / "keras")),
    }
