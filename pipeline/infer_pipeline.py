"""The inference pipeline: an unlabelled pool of images scored by the served model.

ImageExampleGen ingests the pool (the same decode checks, limits and quarantine
as training data; the pool folder's name stands in for the label, which the
model never reads) into one `pool` split; ServedBaseline copies the version in
production (what `vrl serve` answers with); BulkInferenceModel wraps its
tf.Example signature so BulkInferrer can split its string outputs
(components/bulk_inference_model/ops.py); TFX's BulkInferrer runs it over every
example and writes
`tensorflow.serving.PredictionLog`s (`prediction_logs-*.gz` in its
InferenceResult), which `vrl harvest` reads like request logs.
"""

from __future__ import annotations

import posixpath

from tfx.components import BulkInferrer
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import bulk_inferrer_pb2, example_gen_pb2

from components.bulk_inference_model.component import BulkInferenceModel
from components.image_example_gen.component import ImageExampleGen
from components.served_baseline.component import ServedBaseline
from contracts import features
from pipeline.infer_config import InferPipelineConfig

POOL_SPLIT = "pool"


def pool_example_gen(config: InferPipelineConfig) -> ImageExampleGen:
    """ImageExampleGen over the pool folder's files, all in the one `pool` split."""
    return ImageExampleGen(
        input_base=config.pool_parent,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name=POOL_SPLIT, pattern=config.pool_pattern)]
        ),
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(name=POOL_SPLIT, hash_buckets=1)]
            )
        ),
        input_format="folders",
        max_bad_fraction=config.max_bad_fraction,
    )


def create_infer_pipeline(
    config: InferPipelineConfig,
    beam_pipeline_args: list[str] | None = None,
    metadata_connection_config=None,
) -> Pipeline:
    """Wires ImageExampleGen (the pool) and ServedBaseline (the model in production,
    wrapped by BulkInferenceModel) into BulkInferrer. Reads no data."""
    example_gen = pool_example_gen(config)
    served = ServedBaseline(
        model_dir=posixpath.join(config.resolved_serving_base, config.model_name),
        label=config.baseline_label,
    ).with_id("ServedBaseline")  # uncached by every runner (pipeline/params.py)
    wrapped = BulkInferenceModel(model=served.outputs["model"])
    inferrer = BulkInferrer(
        examples=example_gen.outputs["examples"],
        model=wrapped.outputs["inference_model"],
        data_spec=bulk_inferrer_pb2.DataSpec(example_splits=[POOL_SPLIT]),
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=[features.EXAMPLES_SIGNATURE]),
    )
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.resolved_pipeline_root,
        components=[example_gen, served, wrapped, inferrer],
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
