import hashlib
import os

import pytest
import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma

from components.span_drift.ops import statistics_options
from models.cnn.config import TrainerConfig
from pipeline.image_config import ImagePipelineConfig, detect_input_pattern
from pipeline.image_pipeline import create_eval_config, create_image_pipeline

EXPECTED_IDS = [
    "ImageExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "ImageChecks",
    "ServedBaseline",
    "SpanDrift",
    "Transform",
    "Trainer",
    "Evaluator",
    "Pusher",
]


@pytest.fixture
def class_folders(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "data" / name).mkdir(parents=True)
    return str(tmp_path / "data")


def test_pipeline_has_every_component_in_order(class_folders, tmp_path):
    config = ImagePipelineConfig(data_dir=class_folders, home=str(tmp_path), input_pattern="*/*")
    pipeline = create_image_pipeline(config)
    ids = [c.id for c in pipeline.components]
    assert sorted(ids) == sorted(EXPECTED_IDS)
    assert ids[0] == "ImageExampleGen" and ids[-1] == "Pusher"
    assert pipeline.pipeline_info.pipeline_root == os.path.join(
        str(tmp_path), "tfx", "image-classifier"
    )
    transform = next(c for c in pipeline.components if c.id == "Transform")
    assert "ImageChecks" in {n.id for n in transform.upstream_nodes}  # validation gates training
    assert transform.exec_properties["force_tf_compat_v1"] == 0
    assert transform.exec_properties["disable_statistics"] == 1
    # Images are decoded once, by Transform; the Trainer reads its materialised pixels.
    trainer = next(c for c in pipeline.components if c.id == "Trainer")
    assert trainer.inputs["examples"] is transform.outputs["transformed_examples"]
    assert type(transform).__name__ == "ImageTransform"


def test_curated_schema_replaces_schema_gen(class_folders, tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text("")
    config = ImagePipelineConfig(
        data_dir=class_folders, home=str(tmp_path), schema_path=str(schema), input_pattern="*/*"
    )
    ids = [c.id for c in create_image_pipeline(config).components]
    assert "ImportSchemaGen" in ids and "SchemaGen" not in ids


def test_input_pattern_detection(tmp_path):
    (tmp_path / "a" / "cat").mkdir(parents=True)
    assert detect_input_pattern(str(tmp_path / "a")) == "*/*"
    (tmp_path / "b" / "span-1" / "cat").mkdir(parents=True)
    assert detect_input_pattern(str(tmp_path / "b")) == "span-{SPAN}/*/*"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "manifest.csv").write_text("path,label\n")
    assert detect_input_pattern(str(tmp_path / "c")) == "*.csv"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("")
    with pytest.raises(ValueError, match="class sub-folders"):
        detect_input_pattern(str(tmp_path / "d"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        detect_input_pattern(str(tmp_path / "missing"))


def test_eval_config_gates_on_value_and_change():
    cfg = create_eval_config(min_accuracy=0.9, max_accuracy_drop=0.02)
    (metric,) = [
        m for m in cfg.metrics_specs[0].metrics if m.class_name == "SparseCategoricalAccuracy"
    ]
    assert metric.threshold.value_threshold.lower_bound.value == 0.9
    assert metric.threshold.change_threshold.absolute.value == -0.02
    assert cfg.model_specs[0].signature_name == "serving_examples"


def test_evaluator_model_type_is_generic_so_tfma_never_loads_the_model_with_keras():
    # Unset, TFMA tries tf.keras.models.load_model on every model to guess the type
    # and then loads it with Keras again for compile() metrics.
    cfg = create_eval_config(min_accuracy=0.9, max_accuracy_drop=0.02)
    assert [s.model_type for s in cfg.model_specs] == [tfma.TF_GENERIC]


def test_wiring_reads_no_disk_and_needs_a_resolved_pattern(tmp_path):
    missing = str(tmp_path / "not-there")  # wiring must not look at the data
    config = ImagePipelineConfig(data_dir=missing, home=str(tmp_path), input_pattern="*/*")
    assert create_image_pipeline(config).components[0].exec_properties["input_base"] == missing
    with pytest.raises(ValueError, match="input_pattern must be set"):
        create_image_pipeline(ImagePipelineConfig(data_dir=missing, home=str(tmp_path)))


def test_span_drift_compares_with_the_served_span_before_transform(tmp_path):
    config = ImagePipelineConfig(
        data_dir="d", home=str(tmp_path), input_pattern="*/*", halt_on_span_drift=True
    )
    components = {c.id: c for c in create_image_pipeline(config).components}
    drift = components["SpanDrift"]
    assert drift.inputs["statistics"].producer_component_id == "StatisticsGen"
    assert drift.inputs["baseline_model"].producer_component_id == "ServedBaseline"
    assert drift.exec_properties["halt_on_drift"] == 1
    assert drift.exec_properties["max_l_infinity"] == config.max_span_drift_l_infinity
    assert "SpanDrift" in {n.id for n in components["Transform"].upstream_nodes}
    default = ImagePipelineConfig(data_dir="d", home=str(tmp_path), input_pattern="*/*")
    assert default.halt_on_span_drift is False


def test_statistics_gen_and_span_drift_make_statistics_alike(tmp_path):
    """StatisticsGen sketches top-k and uniques (SpanDrift's statistics of the served
    span use the same options, tests/components/span_drift)."""
    config = ImagePipelineConfig(data_dir="d", home=str(tmp_path), input_pattern="*/*")
    components = {c.id: c for c in create_image_pipeline(config).components}
    options = tfdv.StatsOptions.from_json(
        components["StatisticsGen"].exec_properties["stats_options_json"]
    )
    assert options.use_sketch_based_topk_uniques
    assert options.to_json() == statistics_options().to_json()


def test_evaluator_baseline_is_the_served_model_not_a_resolver(tmp_path):
    config = ImagePipelineConfig(data_dir="d", home=str(tmp_path), input_pattern="*/*")
    components = {c.id: c for c in create_image_pipeline(config).components}
    evaluator = components["Evaluator"]
    assert evaluator.inputs["baseline_model"].producer_component_id == "ServedBaseline"
    assert components["ServedBaseline"].exec_properties["model_dir"] == os.path.join(
        str(tmp_path), "serving", "image_classifier"
    )
    assert evaluator.exec_properties["min_accuracy"] == config.min_accuracy


def test_input_format_overrides_detection_and_gz_records_are_found(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "cat").mkdir(parents=True)
    (folder / "notes.csv").write_text("not a manifest")
    assert detect_input_pattern(str(folder), "auto") == "*.csv"
    assert detect_input_pattern(str(folder), "folders") == "*/*"
    records = tmp_path / "records"
    records.mkdir()
    (records / "part-0.gz").write_bytes(b"")
    assert detect_input_pattern(str(records)) == "*.gz"
    with pytest.raises(ValueError, match="--format csv but no"):
        detect_input_pattern(str(records), "csv")
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "LABELS.CSV").write_text("path,label\n")
    assert detect_input_pattern(str(tmp_path / "upper")) == "LABELS.CSV"


@pytest.mark.parametrize("fraction", [0.0, 0.004, 0.996, 1.0])
def test_eval_fraction_outside_the_hash_bucket_range_is_refused(fraction):
    with pytest.raises(ValueError, match=r"eval_fraction must be a number in \[0.01, 0.99\]"):
        ImagePipelineConfig(data_dir="d", eval_fraction=fraction)


def _backbone_config(data_dir: str, home, weights: str) -> ImagePipelineConfig:
    return ImagePipelineConfig(
        data_dir=data_dir,
        home=str(home),
        input_pattern="*/*",
        image_size=64,
        trainer=TrainerConfig(arch="mobilenet_v3_small", weights=weights),
    )


def _trainer_custom_config(config: ImagePipelineConfig) -> str:
    trainer = next(c for c in create_image_pipeline(config).components if c.id == "Trainer")
    return trainer.exec_properties["custom_config"]


def test_weights_file_replaced_in_place_changes_the_trainer_cache_key(class_folders, tmp_path):
    weights = tmp_path / "backbone.weights.h5"
    weights.write_bytes(b"A" * 4096)
    config = _backbone_config(class_folders, tmp_path, str(weights))
    first = _trainer_custom_config(config)
    assert _trainer_custom_config(config) == first  # unchanged file: the cache still hits
    # Same path, same size, same mtime: only the content differs.
    stat = os.stat(weights)
    weights.write_bytes(b"B" * 4096)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _trainer_custom_config(config) != first
    assert hashlib.sha256(b"B" * 4096).hexdigest() in _trainer_custom_config(config)


def test_weights_choices_add_no_fingerprint(class_folders, tmp_path):
    for weights in ("imagenet", "none"):
        config = _backbone_config(class_folders, tmp_path, weights)
        assert "weights_sha256" not in config.trainer_config()
