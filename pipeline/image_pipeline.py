"""The image-classification pipeline definition (same for local and Kubeflow)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.components import ExampleValidator, SchemaGen, StatisticsGen, Trainer
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, range_config_pb2, trainer_pb2
from tfx.utils import proto_utils

from components.atomic_pusher.component import create_pusher
from components.gated_evaluator import class_metrics
from components.gated_evaluator.component import GatedEvaluator
from components.image_checks.component import ImageChecks
from components.image_checks.ops import CheckConfig
from components.image_example_gen.component import ImageExampleGen
from components.image_transform.component import ImageTransform
from components.served_baseline.component import ServedBaseline
from components.span_drift import ops as drift_ops
from components.span_drift.component import SpanDrift
from contracts import features
from models.cnn import limits
from pipeline import params
from pipeline.image_config import ImagePipelineConfig
from pipeline.params import maybe_runtime

TRAINER_RUN_FN = "models.cnn.trainer.run_fn"
PREPROCESSING_FN = "models.cnn.preprocessing.preprocessing_fn"


def create_eval_config(
    min_accuracy: float, max_accuracy_drop: float, top_k: Sequence[int] = limits.DEFAULT_TOP_K
) -> tfma.EvalConfig:
    """TFMA config: overall and per-class accuracy, value and change thresholds; top-k
    accuracies, TFMA's multi-class confusion matrix, per-class precision and recall."""
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -max_accuracy_drop},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # TF_GENERIC: TFMA calls our `serving_examples` signature of a
                # plain tf.saved_model.load. Unset, TFMA loads each model with
                # Keras just to learn its type, then again (once per Beam stage)
                # to add the compile() metrics, which nothing reads: 75% of the
                # Evaluator's time for MobileNetV3Small.
                model_type=tfma.TF_GENERIC,
                signature_name=features.EXAMPLES_SIGNATURE,
                label_key=features.LABEL_KEY,
                prediction_key=features.OUTPUT_PROBABILITIES,
            )
        ],
        # The overall slice carries the thresholds; the label_name slice gives
        # per-class accuracy (= recall of that class).
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=[features.LABEL_NAME_KEY]),
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold
                    ),
                    *(
                        tfma.MetricConfig(
                            class_name="SparseTopKCategoricalAccuracy",
                            config=json.dumps({"k": k, "name": f"top_{k}_accuracy"}),
                        )
                        for k in sorted(set(top_k))
                        if k > 1
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            # Precision and recall of each class (its one-vs-rest view, the class
            # predicted = the most probable one), read from the confusion matrix
            # above: the numbers and keys of TFMA's Precision/Recall with
            # top_k=1, thresholds=[0.0] under this binarize, without their
            # per-class pass over every example (class_metrics.py). The empty
            # `binarize` is filled with class ids 0..K-1 by the GatedEvaluator,
            # which reads K from the examples' label vocabulary (wiring reads no data).
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name=name, module=class_metrics.__name__)
                    for name in (
                        class_metrics.ClassPrecision.__name__,
                        class_metrics.ClassRecall.__name__,
                    )
                ],
                binarize=tfma.BinarizationOptions(),
            ),
        ],
    )


def example_gen_configs(config: ImagePipelineConfig) -> dict:
    """input/output/range configs for ImageExampleGen (no disk reads: the
    runner resolves `input_pattern` before wiring)."""
    pattern = config.input_pattern
    if not pattern:
        raise ValueError(
            "ImagePipelineConfig.input_pattern must be set before wiring (the local runner "
            "detects it from the data folder; `vrl compile` takes --pattern)"
        )
    eval_buckets = max(1, round(100 * config.eval_fraction))
    kwargs = {
        "input_config": example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)]
        ),
        "output_config": example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(
                        name="train", hash_buckets=100 - eval_buckets
                    ),
                    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
                ],
                # Identical images always land in the same split (no leakage).
                partition_feature_name=features.SHA256_KEY,
            )
        ),
    }
    if config.span is not None:
        if "{SPAN}" not in pattern:
            raise ValueError(
                f"span={config.span} given but the input pattern {pattern!r} has no {{SPAN}}"
            )
        kwargs["range_config"] = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(
                start_span_number=config.span, end_span_number=config.span
            )
        )
    return kwargs


def set_runtime_custom_config(component: Any, name: str) -> None:
    """Makes `component`'s custom_config a JSON-object RuntimeParameter named `name`,
    defaulting to the dict it was built with. TFX's Trainer takes one in its
    constructor; Transform's serialises whatever it is given, so it is set here
    (the spec's custom_config is a string exec property either way)."""
    key = "custom_config"
    value = component.exec_properties[key]
    component.exec_properties[key] = maybe_runtime(name, value, str, True)


def _data_components(config: ImagePipelineConfig, rp: bool) -> list:
    """ImageExampleGen, StatisticsGen, SchemaGen (or the curated schema),
    ExampleValidator and ImageChecks, in that order."""
    gen_configs = example_gen_configs(config)
    if rp and "{SPAN}" in config.input_pattern:
        # Per-run span choice: RangeConfig JSON; empty means the latest span.
        range_config = gen_configs.pop("range_config", None)
        gen_configs["range_config"] = maybe_runtime(
            params.RANGE_CONFIG,
            proto_utils.proto_to_json(range_config) if range_config else "",
            str,
            rp,
        )
    example_gen = ImageExampleGen(
        input_base=maybe_runtime(params.DATA_ROOT, config.data_dir, str, rp),
        input_format=config.input_format,
        max_bad_fraction=config.max_bad_fraction,
        **gen_configs,
    )
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"], stats_options=drift_ops.statistics_options()
    )
    if config.schema_path:
        schema_gen = ImportSchemaGen(schema_file=config.schema_path)
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
        )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    image_checks = ImageChecks(
        examples=example_gen.outputs["examples"],
        anomalies=example_validator.outputs["anomalies"],
        config=CheckConfig(max_class_imbalance=config.max_class_imbalance),
        halt_on_anomalies=config.halt_on_anomalies,
    )
    return [example_gen, statistics_gen, schema_gen, example_validator, image_checks]


def _span_drift(config: ImagePipelineConfig, data: list, baseline) -> SpanDrift:
    """SpanDrift: the new span's statistics against the served model's span."""
    _, statistics_gen, schema_gen, _, _ = data
    return SpanDrift(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        baseline_model=baseline.outputs["model"],
        max_l_infinity=config.max_span_drift_l_infinity,
        max_js_divergence=config.max_span_drift_js_divergence,
        halt_on_drift=config.halt_on_span_drift,
    ).with_id("SpanDrift")


def _training_components(
    config: ImagePipelineConfig, rp: bool, example_gen, schema_gen, image_checks
) -> list:
    """Transform (gated on ImageChecks; image_size from its custom_config) and the
    Trainer (every TrainerConfig field in its custom_config; image_size read from
    Transform's graph), in that order."""
    transform = ImageTransform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        # Images are decoded once, here (on Beam workers at scale), and stored
        # as uint8 pixels of the model's size: the Trainer never decodes a JPEG.
        materialize=True,
        disable_statistics=True,
        custom_config=params.transform_config(config),
    ).with_id("Transform")
    # Validation gates training: nothing downstream runs if the checks halt.
    transform.add_upstream_node(image_checks)
    trainer_config = config.trainer_config()
    if rp:  # per run: image_size in one parameter; trainer_config as one JSON object
        set_runtime_custom_config(transform, params.TRANSFORM_CONFIG)
        trainer_config = maybe_runtime(
            params.TRAINER_CONFIG, json.dumps(trainer_config, sort_keys=True), str, rp
        )
    trainer = Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(),
        eval_args=trainer_pb2.EvalArgs(),
        custom_config=trainer_config,
    )
    return [transform, trainer]


def _served_baseline(config: ImagePipelineConfig) -> ServedBaseline:
    """The model in production: the Evaluator's baseline and SpanDrift's compared span."""
    return ServedBaseline(
        model_dir=posixpath.join(config.resolved_serving_base, config.model_name),
        label=config.baseline_label,
    ).with_id("ServedBaseline")


def _release_components(
    config: ImagePipelineConfig, rp: bool, example_gen, trainer, baseline
) -> list:
    """The Evaluator (against the served baseline) and the Pusher, in that order."""
    evaluator = GatedEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=create_eval_config(config.min_accuracy, config.max_accuracy_drop, config.top_k),
        min_accuracy=maybe_runtime("min_accuracy", config.min_accuracy, float, rp),
        max_accuracy_drop=maybe_runtime("max_accuracy_drop", config.max_accuracy_drop, float, rp),
        tflite_max_drop=maybe_runtime("tflite_max_drop", config.tflite_max_drop, float, rp),
    ).with_id("Evaluator")
    pusher = create_pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        serving_base=config.resolved_serving_base,
        model_name=config.model_name,
        pipeline_name=config.pipeline_name,
        kind="image",
        examples=example_gen.outputs["examples"],
        quarantine=example_gen.outputs["quarantine"],
        evaluation=evaluator.outputs["evaluation"],
        model_run=trainer.outputs["model_run"],
    )
    return [evaluator, pusher]


def create_image_pipeline(
    config: ImagePipelineConfig,
    beam_pipeline_args: list[str] | None = None,
    metadata_connection_config=None,
    runtime_parameters: bool = False,
) -> Pipeline:
    """Wires ImageExampleGen → validation and SpanDrift (against the span of
    ServedBaseline, the model in production) → Transform → Trainer → Evaluator
    (against ServedBaseline) → Pusher.

    Reads no data; a local weights file (`config.trainer.weights`) is hashed
    into the Trainer's custom_config, so replacing it in place retrains.

    With `runtime_parameters` (Kubeflow), data_root, range_config,
    transform_config, trainer_config, min_accuracy, max_accuracy_drop and
    tflite_max_drop become pipeline parameters whose defaults are the config's
    values (pipeline/params.py).
    """
    rp = runtime_parameters
    data = _data_components(config, rp)
    example_gen, _, schema_gen, _, image_checks = data
    baseline = _served_baseline(config)
    drift = _span_drift(config, data, baseline)
    training = _training_components(config, rp, example_gen, schema_gen, image_checks)
    training[0].add_upstream_node(drift)  # a halting drift check stops Transform
    release = _release_components(config, rp, example_gen, training[-1], baseline)
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.resolved_pipeline_root,
        components=data + [baseline, drift] + training + release,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
