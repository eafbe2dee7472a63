"""ImageExampleGen: TFX's FileBasedExampleGen for image folders, CSV manifests
and TFRecords, with decode checks and a quarantine report.

Spans, versions, range_config, input fingerprints (caching) and the hash split
are TFX's own (FileBasedDriver, BaseExampleGenExecutor); this component adds the
image checks, the `quarantine` output and `label_vocab.txt`. Its driver
tolerates file names that are not UTF-8, and its executor resolves span and
fingerprint itself when no driver ran (Kubeflow's container entrypoint).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts

from components.image_example_gen import inputs, ops, sources, spec
from components.image_example_gen.executor import Executor
from contracts import features
from contracts.files import FOLDER_PATTERN

_HASH_BUCKETS = 100


def default_input_config(pattern: str = FOLDER_PATTERN) -> example_gen_pb2.Input:
    """One input split matching `pattern` (relative to input_base; may hold {SPAN})."""
    return example_gen_utils.make_default_input_config(pattern)


def default_output_config(eval_fraction: float = 0.2) -> example_gen_pb2.Output:
    """Hash split into train/eval on the sha256 feature, so identical images share a split."""
    eval_buckets = round(eval_fraction * _HASH_BUCKETS)
    if not 0 < eval_buckets < _HASH_BUCKETS:
        raise ValueError(f"eval_fraction must be in [0.01, 0.99] (1% steps), got {eval_fraction}")
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(
                    name="train", hash_buckets=_HASH_BUCKETS - eval_buckets
                ),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
            ],
            partition_feature_name=features.SHA256_KEY,
        )
    )


class ImageExampleGen(FileBasedExampleGen):
    """Image folders / CSV manifest / TFRecords -> checked tf.Examples + quarantine report.

    Outputs: `examples` (Examples: gzipped TFRecords per split with exactly
    `contracts.features.RAW_FEATURE_KEYS`, and `label_vocab.txt` at the
    artifact root) and `quarantine` (QuarantineReport). Fails, publishing
    nothing, when more than `max_bad_fraction` of the inputs are bad.
    """

    SPEC_CLASS = spec.ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = inputs.ImageFileBasedDriver

    def __init__(
        self,
        input_base: str,
        input_config: example_gen_pb2.Input | None = None,
        output_config: example_gen_pb2.Output | None = None,
        range_config: range_config_pb2.RangeConfig | None = None,
        input_format: str = sources.AUTO,
        max_bad_fraction: float = spec.DEFAULT_MAX_BAD_FRACTION,
        labels: Sequence[str] | None = None,
        min_side: int = spec.DEFAULT_MIN_SIDE,
        max_side: int = spec.DEFAULT_MAX_SIDE,
        max_image_pixels: int = spec.DEFAULT_MAX_IMAGE_PIXELS,
    ):
        """Builds the component.

        Args:
          input_base: Folder holding the inputs (local path or any tf.io.gfile URI).
          input_config: Input split patterns relative to input_base; default one
            split `*/*` (class-per-folder). Use `span-{SPAN}/*/*` for spans.
          output_config: Default: 80/20 train/eval hash split on sha256 when
            there is one input split; the input splits otherwise.
          range_config: TFX RangeConfig selecting spans; default the latest span.
          input_format: 'auto', 'folders', 'csv' (`path,label` manifest,
            paths relative to it) or 'tfrecord' (tf.Example with image bytes and
            label_name or label; gzip or not).
          max_bad_fraction: Fail when quarantined / seen exceeds this.
          labels: Fixed label order (ids = positions); default sorted names
            found (numeric order when all names are integers). Inputs with other
            labels are quarantined as `unknown_label`.
          min_side: Smallest allowed image side in pixels.
          max_side: Largest allowed image side in pixels.
          max_image_pixels: Largest allowed width * height.
        """
        if input_format not in sources.INPUT_FORMATS:
            raise ValueError(
                f"input_format={input_format!r}; expected one of {sources.INPUT_FORMATS}"
            )
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction}")
        ops.ImageLimits(min_side=min_side, max_side=max_side, max_pixels=max_image_pixels)
        labels_json = json.dumps(ops.label_vocabulary([], labels)) if labels else ""
        input_config = input_config or default_input_config()
        if output_config is None:
            output_config = (
                default_output_config()
                if len(input_config.splits) == 1
                else example_gen_pb2.Output()
            )
        component_spec = spec.ImageExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            custom_config=None,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            input_format=input_format,
            max_bad_fraction=float(max_bad_fraction),
            labels=labels_json,
            min_side=int(min_side),
            max_side=int(max_side),
            max_image_pixels=int(max_image_pixels),
            examples=types.Channel(type=standard_artifacts.Examples),
            quarantine=types.Channel(type=spec.QuarantineReport),
        )
        # FileBasedExampleGen.__init__ would build its own spec; keep its class
        # (driver, Kubeflow V2 support) but initialise as a plain Beam component.
        base_beam_component.BaseBeamComponent.__init__(self, spec=component_spec)
