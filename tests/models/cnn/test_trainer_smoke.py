"""Smoke training: run_fn on a tiny Examples artifact, then serve the exported SavedModel."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow.core.protobuf import saved_model_pb2
from tfx.components.trainer.fn_args_utils import FnArgs

from contracts import features, files
from models.cnn import sanity, testing, trainer

pytestmark = pytest.mark.slow  # trains and exports models: not in `make check`


@pytest.fixture(scope="module")
def trained(tmp_path_factory, transformed_uri, transform_dir):
    out = tmp_path_factory.mktemp("trainer")
    fn_args = FnArgs(
        train_files=[os.path.join(transformed_uri, "Split-train", "*")],
        eval_files=[os.path.join(transformed_uri, "Split-eval", "*")],
        transform_output=transform_dir,
        serving_model_dir=str(out / "serving_model_dir"),
        model_run_dir=str(out / "model_run_dir"),
        train_steps=None,
        eval_steps=None,
        custom_config={
            "epochs": 10,
            "batch_size": 16,
            "filters": [8, 16],
            "learning_rate": 3e-3,
            "image_size": 16,
            "seed": 1,
            "min_steps": 100,  # colours are easy; test_trainer_learns runs the defaults
        },
    )
    trainer.run_fn(fn_args)
    return fn_args


@pytest.mark.slow
def test_serving_default_answers_raw_image_bytes_with_label_names(trained, colour_items):
    loaded = tf.saved_model.load(trained.serving_model_dir)
    eval_items = colour_items[45:]

    out = loaded.signatures["serving_default"](
        **{features.SERVING_INPUT_KEY: tf.constant([b for b, _ in eval_items])}
    )

    probs = out[features.OUTPUT_PROBABILITIES].numpy()
    class_ids = out[features.OUTPUT_CLASS_IDS].numpy()
    names = [n.decode() for n in out[features.OUTPUT_LABEL_NAMES].numpy()]
    labels = np.array([label for _, label in eval_items])
    assert probs.shape == (15, 3) and probs.dtype == np.float32
    assert class_ids.dtype == np.int64
    np.testing.assert_array_equal(class_ids, probs.argmax(axis=1))
    assert names == [testing.COLOUR_CLASSES[i] for i in class_ids]
    assert (class_ids == labels).mean() > 0.8  # chance is 1/3


@pytest.mark.slow
def test_export_saves_no_per_layer_traces_and_still_revives_with_keras(trained):
    # Traced layer calls made the MobileNetV3Small export 4x slower to save
    # (models/cnn/signatures.py); only the signatures are served.
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(trained.serving_model_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    names = [fn.signature.name for fn in saved.meta_graphs[0].graph_def.library.function]
    assert names and not [n for n in names if "_layer_call_" in n]
    revived = tf_keras.models.load_model(trained.serving_model_dir)
    assert revived.output_shape == (None, 3)


@pytest.mark.slow
def test_serving_examples_matches_serving_default_on_the_same_images(trained, colour_items):
    loaded = tf.saved_model.load(trained.serving_model_dir)
    eval_items = colour_items[45:]
    serialized = [
        testing.make_example(b, label, testing.COLOUR_CLASSES[label]).SerializeToString()
        for b, label in eval_items
    ]

    from_examples = loaded.signatures[features.EXAMPLES_SIGNATURE](
        **{features.EXAMPLES_INPUT_KEY: tf.constant(serialized)}
    )
    from_bytes = loaded.signatures["serving_default"](
        **{features.SERVING_INPUT_KEY: tf.constant([b for b, _ in eval_items])}
    )

    np.testing.assert_allclose(
        from_examples[features.OUTPUT_PROBABILITIES].numpy(),
        from_bytes[features.OUTPUT_PROBABILITIES].numpy(),
        atol=1e-6,
    )
    labels = np.array([label for _, label in eval_items])
    assert (from_examples[features.OUTPUT_CLASS_IDS].numpy() == labels).mean() > 0.8


@pytest.mark.slow
def test_run_fn_writes_report_curve_checkpoints_and_tensorboard_logs(trained):
    run_dir = trained.model_run_dir
    with open(os.path.join(run_dir, files.TRAINING_REPORT_FILE)) as f:
        summary = json.load(f)["summary"]

    assert summary["num_classes"] == 3 and summary["train_examples"] == 45
    assert summary["eval_accuracy"] > 0.8
    assert 0.0 <= summary["train_accuracy"] <= 1.0
    assert summary["sanity"]["overfit_steps"] >= 1
    assert os.path.getsize(os.path.join(run_dir, files.LOSS_CURVE_FILE)) > 1000
    assert tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")) is not None
    assert any(name.startswith("train") for name in os.listdir(run_dir))  # TensorBoard


def _fn_args(tmp_path, transformed_uri, transform_dir, **overrides) -> FnArgs:
    args = {
        "train_files": [os.path.join(transformed_uri, "Split-train", "*")],
        "eval_files": [os.path.join(transformed_uri, "Split-eval", "*")],
        "transform_output": transform_dir,
        "serving_model_dir": str(tmp_path / "serving_model_dir"),
        "model_run_dir": str(tmp_path / "model_run_dir"),
        **overrides,
    }
    return FnArgs(**args)


@pytest.mark.slow
def test_run_fn_with_train_steps_spreads_them_over_epochs_rounding_up(
    tmp_path, transformed_uri, transform_dir
):
    fn_args = _fn_args(
        tmp_path,
        transformed_uri,
        transform_dir,
        train_steps=7,
        eval_steps=1,
        custom_config={
            "epochs": 2,
            "batch_size": 8,
            "filters": [8],
            "arch": "resnet",
            "optimizer": "sgd",
            "learning_rate": 0.01,
            "sanity_checks": False,
        },
    )

    trainer.run_fn(fn_args)

    with open(os.path.join(fn_args.model_run_dir, files.TRAINING_REPORT_FILE)) as f:
        result = json.load(f)
    assert result["summary"]["epochs_run"] == 2
    assert result["summary"]["optimizer_steps"] == 8  # ceil(7 / 2) per epoch
    assert "sanity" not in result["summary"]
    loaded = tf.saved_model.load(fn_args.serving_model_dir)
    assert set(loaded.signatures) == {"serving_default", features.EXAMPLES_SIGNATURE}


@pytest.mark.slow
def test_run_fn_fails_fast_when_the_model_cannot_overfit_one_batch(
    tmp_path, transformed_uri, transform_dir
):
    fn_args = _fn_args(
        tmp_path,
        transformed_uri,
        transform_dir,
        custom_config={"filters": [8], "sanity_steps": 1},  # one step memorises nothing
    )

    with pytest.raises(sanity.SanityCheckError, match="could not overfit one batch") as failed:
        trainer.run_fn(fn_args)
    assert "\n" not in str(failed.value)  # the command line prints it as one line
    assert not os.path.exists(fn_args.serving_model_dir)


def test_export_carries_a_warmup_file_of_real_images_that_the_model_answers(trained):
    from serving import warmup

    logs = warmup.read_warmup_logs(trained.serving_model_dir)
    assert len(logs) == 4  # three single images and one batch of all three
    request = logs[-1].predict_log.request
    images = tf.make_ndarray(request.inputs["image_bytes"])
    assert len(images) == 3 and all(len(img) > 0 for img in images)
    loaded = tf.saved_model.load(trained.serving_model_dir)
    out = loaded.signatures["serving_default"](image_bytes=tf.constant(images))
    assert out["probabilities"].shape[0] == 3


@pytest.mark.slow
def test_bulk_inference_wrapper_answers_like_the_exported_examples_signature(
    trained, examples_uri, tmp_path
):
    """BulkInferenceModel's wrapper of a real export (Transform layer, assets): the same
    answers, label names given the trailing axis tfx_bsl's RunInference needs."""
    from components.bulk_inference_model.ops import wrap_for_bulk_inference

    wrapped_dir = str(tmp_path / "wrapped")
    wrap_for_bulk_inference(trained.serving_model_dir, wrapped_dir)
    shards = tf.io.gfile.glob(os.path.join(examples_uri, "Split-eval", "*"))
    batch = tf.constant(
        [r.numpy() for r in tf.data.TFRecordDataset(shards, compression_type="GZIP")]
    )
    key = {features.EXAMPLES_INPUT_KEY: batch}
    original = tf.saved_model.load(trained.serving_model_dir).signatures[
        features.EXAMPLES_SIGNATURE
    ](**key)
    wrapped = tf.saved_model.load(wrapped_dir).signatures[features.EXAMPLES_SIGNATURE](**key)
    np.testing.assert_array_equal(
        wrapped[features.OUTPUT_PROBABILITIES].numpy(),
        original[features.OUTPUT_PROBABILITIES].numpy(),
    )
    names = wrapped[features.OUTPUT_LABEL_NAMES].numpy()
    assert names.shape == (len(batch), 1)
    assert list(names[:, 0]) == list(original[features.OUTPUT_LABEL_NAMES].numpy())
