"""The model code inside TFX's own components: SchemaGen-inferred schema, Transform
(ImageTransform: TFX's Transform executor, materialising; preprocessing_fn by name)
and Trainer (run_fn by name) fed the transformed examples."""

import glob
import os

import ml_metadata as mlmd
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2
from tfx.components import SchemaGen, StatisticsGen, Trainer
from tfx.dsl.components.common.importer import Importer
from tfx.orchestration import metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline
from tfx.types import standard_artifacts

from components.image_transform.component import ImageTransform
from contracts import features
from contracts.files import DATA_IDENTITY_FILE
from models.cnn import testing
from vrl.runner import local_beam_args


@pytest.mark.slow
def test_transform_and_trainer_components_export_a_model_serving_both_signatures(
    tmp_path, examples_uri, colour_items
):
    examples = Importer(
        source_uri=examples_uri,
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": '["train", "eval"]', "span": 7},
        custom_properties={"input_fingerprint": "split:single_split,num_files:1"},
    ).with_id("import_examples")
    statistics = StatisticsGen(examples=examples.outputs["result"])
    schema = SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    transform = ImageTransform(
        examples=examples.outputs["result"],
        schema=schema.outputs["schema"],
        preprocessing_fn="models.cnn.preprocessing.preprocessing_fn",
        materialize=True,
        custom_config={"image_size": 16},
        disable_statistics=True,
    )
    trainer = Trainer(
        run_fn="models.cnn.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        custom_config={
            "epochs": 8,
            "min_steps": 100,  # colours are easy; test_trainer_learns runs the defaults
            "batch_size": 16,
            "filters": [8, 16],
            "learning_rate": 3e-3,
            "image_size": 16,
        },
    )
    root = str(tmp_path / "pipeline_root")
    pipeline = Pipeline(
        pipeline_name="cnn_components",
        pipeline_root=root,
        components=[examples, statistics, schema, transform, trainer],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            str(tmp_path / "metadata.sqlite")
        ),
        beam_pipeline_args=local_beam_args(),  # none: no TFX sdist per Beam component
    )

    LocalDagRunner().run(pipeline)

    (serving_dir,) = glob.glob(os.path.join(root, "Trainer", "model", "*", "Format-Serving"))
    (transformed,) = glob.glob(os.path.join(root, "ImageTransform", "transformed_examples", "*"))
    assert sorted(os.listdir(transformed)) == [
        "Split-eval",
        "Split-train",
        DATA_IDENTITY_FILE,
        "label_vocab.txt",
    ]
    hparams = _hparams(glob.glob(os.path.join(root, "Trainer", "model_run", "*"))[0])
    assert hparams["data_span"].string_value == "7"  # runs on other spans get rows of their own
    assert len(hparams["data_fingerprint"].string_value) == 12
    assert hparams["image_size"].number_value == 16
    # Readers of the transformed examples find their payload format (no fallback warning).
    store = mlmd.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    )
    (artifact,) = [a for a in store.get_artifacts() if a.uri == transformed]
    assert artifact.custom_properties["payload_format"].string_value == "FORMAT_TF_EXAMPLE"
    loaded = tf.saved_model.load(serving_dir)
    eval_items = colour_items[45:]
    labels = np.array([label for _, label in eval_items])
    serialized = [
        testing.make_example(b, label, testing.COLOUR_CLASSES[label]).SerializeToString()
        for b, label in eval_items
    ]
    from_bytes = loaded.signatures["serving_default"](
        **{features.SERVING_INPUT_KEY: tf.constant([b for b, _ in eval_items])}
    )
    from_examples = loaded.signatures[features.EXAMPLES_SIGNATURE](
        **{features.EXAMPLES_INPUT_KEY: tf.constant(serialized)}
    )
    assert (from_bytes[features.OUTPUT_CLASS_IDS].numpy() == labels).mean() > 0.8
    np.testing.assert_array_equal(
        from_examples[features.OUTPUT_CLASS_IDS].numpy(),
        from_bytes[features.OUTPUT_CLASS_IDS].numpy(),
    )
    names = from_bytes[features.OUTPUT_LABEL_NAMES].numpy()
    assert set(names.tolist()) <= {n.encode() for n in testing.COLOUR_CLASSES}


def _hparams(log_dir: str):
    """The hparams of the session a TensorBoard log folder records."""
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(
                        value.metadata.plugin_data.content
                    )
                    if data.HasField("session_start_info"):
                        return data.session_start_info.hparams
    raise AssertionError(f"no hparams session in {log_dir}")
