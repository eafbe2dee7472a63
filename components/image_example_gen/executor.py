"""ImageExampleGen executor: TFX's BaseExampleGenExecutor with decode-checked
image inputs, a quarantine side output, a label vocabulary and an ingest report."""

from __future__ import annotations

import datetime
import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, driver
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.image_example_gen import beam_io, inputs, listing, ops, report, sources, spec
from contracts import features, files

# Private exec_properties filled in by Do() for the Beam stages (TFX itself
# passes `_beam_pipeline_args` the same way).
_VOCAB_KEY = "_image_example_gen_vocab"
_STAGING_KEY = "_image_example_gen_staging"
_STAGING_DIRNAME = "_staging"
_REFUSED_DIRNAME = "refused"


def fixed_labels(exec_properties: dict[str, Any]) -> tuple[str, ...]:
    """The `labels` parameter (JSON list) as a tuple; empty when unset."""
    raw = exec_properties.get(spec.LABELS_KEY) or ""
    if not raw:
        return ()
    labels = json.loads(raw)
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{spec.LABELS_KEY} must be a JSON list of strings, got {raw!r}")
    return tuple(ops.label_vocabulary([], labels))


def ingest_config(exec_properties: dict[str, Any]) -> beam_io.IngestConfig:
    """IngestConfig from exec_properties (after Do() added vocabulary and staging dir)."""
    return beam_io.IngestConfig(
        input_base=exec_properties[standard_component_specs.INPUT_BASE_KEY],
        input_format=exec_properties.get(spec.INPUT_FORMAT_KEY) or sources.AUTO,
        vocab=tuple(json.loads(exec_properties[_VOCAB_KEY])),
        fixed_labels=fixed_labels(exec_properties),
        limits=ops.ImageLimits(
            min_side=int(exec_properties.get(spec.MIN_SIDE_KEY, spec.DEFAULT_MIN_SIDE)),
            max_side=int(exec_properties.get(spec.MAX_SIDE_KEY, spec.DEFAULT_MAX_SIDE)),
            max_pixels=int(
                exec_properties.get(spec.MAX_IMAGE_PIXELS_KEY, spec.DEFAULT_MAX_IMAGE_PIXELS)
            ),
        ),
        staging_dir=exec_properties[_STAGING_KEY],
        splits=listing.split_rules(_input_config(exec_properties), _output_config(exec_properties)),
    )


def _input_config(exec_properties: dict[str, Any]) -> example_gen_pb2.Input:
    config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], config)
    return config


def _output_config(exec_properties: dict[str, Any]) -> example_gen_pb2.Output:
    config = example_gen_pb2.Output()
    raw = exec_properties.get(standard_component_specs.OUTPUT_CONFIG_KEY)
    if raw:
        proto_utils.json_to_proto(raw, config)
    return config


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ImagesToExample(  # noqa: N802 (Beam PTransform naming)
    pipeline: beam.Pipeline,
    exec_properties: dict[str, Any],
    split_pattern: str,
    listed: Mapping[str, list[str]] | None = None,
) -> beam.PCollection:
    return pipeline | "Images" >> beam_io.ImagesToExample(
        ingest_config(exec_properties), split_pattern, (listed or {}).get(split_pattern)
    )


def list_splits(input_base: str, input_config: example_gen_pb2.Input) -> dict[str, list[str]]:
    """Input split pattern -> the files it matches (`sources.list_files`)."""
    return {s.pattern: sources.list_files(input_base, s.pattern) for s in input_config.splits}


def compute_vocabulary(
    input_base: str,
    input_config: example_gen_pb2.Input,
    input_format: str,
    fixed: tuple,
    listed: Mapping[str, list[str]] | None = None,
) -> list[str]:
    """Label vocabulary over all input splits: `fixed`, else sorted names found.

    `listed` is `list_splits`' result when the caller has it already.

    Raises:
      ValueError: no labels found; naming the inputs that are not TFRecords
        when that is why.
    """
    names: set[str] = set()
    not_tfrecords: list[str] = []
    listed = listed if listed is not None else list_splits(input_base, input_config)
    for split in input_config.splits:
        files = listed[split.pattern]
        fmt = sources.resolve_input_format(input_format, files)
        if fixed and fmt != sources.CSV:
            continue  # CSV manifests are still parsed here, so a bad one fails early
        split_names, split_bad = sources.scan_label_names(input_base, files, fmt, fixed)
        names |= split_names
        not_tfrecords += split_bad
    vocab = list(fixed) if fixed else ops.label_vocabulary(names)
    if vocab:
        return vocab
    patterns = [s.pattern for s in input_config.splits]
    if not_tfrecords:
        raise ValueError(
            f"ImageExampleGen found no labels under {input_base} for patterns {patterns}: "
            f"{'; '.join(not_tfrecords[:3])}; expected TFRecord files of tf.Example"
        )
    raise ValueError(
        f"ImageExampleGen found no labels under {input_base} for patterns {patterns}; "
        "expected class folders ('*/*'), a 'path,label' CSV or labelled TFRecords"
    )


def _read_jsonl(pattern: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(tf.io.gfile.glob(pattern)):
        with tf.io.gfile.GFile(path) as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def read_staging(staging_dir: str) -> tuple[dict[str, int], dict[str, dict[str, int]], list]:
    """(seen per input pattern, examples per split and label, quarantine records)."""
    seen = {
        r["input_pattern"]: r["seen"]
        for r in _read_jsonl(os.path.join(staging_dir, beam_io.SEEN_PREFIX + "*"))
    }
    counts: dict[str, dict[str, int]] = {}
    for r in _read_jsonl(os.path.join(staging_dir, beam_io.COUNTS_PREFIX + "*")):
        split = counts.setdefault(r["split"], {})
        split[r["label_name"]] = split.get(r["label_name"], 0) + r["count"]
    bad = _read_jsonl(os.path.join(staging_dir, beam_io.BAD_PREFIX + "*"))
    return seen, counts, sorted(bad, key=lambda r: (r["path"], r["reason"]))


def _write_text(path: str, text: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Writes decode-checked image tf.Examples; TFX does the splitting and writing."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX API)
        """Input split pattern -> tf.Examples (bad inputs go to the staging folder),
        over the files Do() listed for the vocabulary (70,000 names take ~1 s to list)."""
        return functools.partial(_ImagesToExample, listed=getattr(self, "_listed", None))

    def GenerateExamplesByBeam(  # noqa: N802 (TFX API)
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        """TFX's splitting, plus per-split label counts for the ingest report."""
        example_splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        for split_name, examples in example_splits.items():
            _ = examples | f"CountExamples[{split_name}]" >> beam_io.CountExamples(
                exec_properties[_STAGING_KEY], split_name
            )
        return example_splits

    def Do(  # noqa: N802 (TFX API)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Runs the Beam job, then writes the vocabulary and reports and checks the counts."""
        props = dict(exec_properties)
        if not inputs.has_driver_properties(props):
            # No driver ran (Kubeflow's container entrypoint): resolve {SPAN}
            # and the fingerprint here, as TFX's FileBasedDriver does locally.
            props = inputs.resolve_exec_properties(props)
            logging.info(
                "ImageExampleGen: no driver output; resolved span %s, version %s",
                props[inputs.SPAN_KEY],
                props[inputs.VERSION_KEY],
            )
        input_config = _input_config(props)
        input_base = props[standard_component_specs.INPUT_BASE_KEY]
        examples = artifact_utils.get_single_instance(output_dict[spec.EXAMPLES_KEY])
        quarantine = artifact_utils.get_single_instance(output_dict[spec.QUARANTINE_KEY])

        self._listed = list_splits(input_base, input_config)
        vocab = compute_vocabulary(
            input_base,
            input_config,
            props.get(spec.INPUT_FORMAT_KEY) or sources.AUTO,
            fixed_labels(props),
            self._listed,
        )
        logging.info("ImageExampleGen: %d labels: %s", len(vocab), vocab)
        staging = os.path.join(quarantine.uri, _STAGING_DIRNAME)
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        tf.io.gfile.makedirs(staging)
        props[_VOCAB_KEY] = json.dumps(vocab)
        props[_STAGING_KEY] = staging

        super().Do(input_dict, output_dict, props)

        ops.write_label_vocab(vocab, os.path.join(examples.uri, features.LABEL_VOCAB_FILENAME))
        listed = listing.write_listing(staging, examples.uri)
        seen, counts, bad = read_staging(staging)
        ingest = report.build_report(seen, counts, bad)
        ingest["label_vocab"] = vocab
        ingest["span"] = props.get(inputs.SPAN_KEY)
        ingest["version"] = props.get(inputs.VERSION_KEY)
        ingest["input_fingerprint"] = props.get(inputs.FINGERPRINT_KEY)
        quarantine_lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in bad)
        report_text = json.dumps(ingest, indent=2, sort_keys=True)
        quarantine_path = os.path.join(quarantine.uri, spec.QUARANTINE_FILENAME)
        _write_text(quarantine_path, quarantine_lines)
        _write_text(os.path.join(quarantine.uri, files.INGEST_REPORT_FILE), report_text)
        tf.io.gfile.rmtree(staging)
        _record_properties(props, ingest, examples, quarantine)
        logging.info(
            "ImageExampleGen: %d inputs seen, %d examples written %s, %d quarantined %s",
            ingest["files_seen"],
            ingest["examples_written"],
            ingest["examples_per_split"],
            ingest["quarantined"],
            ingest["quarantined_per_reason"],
        )
        report.check_reconciled(ingest, listed)
        max_bad_fraction = float(
            props.get(spec.MAX_BAD_FRACTION_KEY, spec.DEFAULT_MAX_BAD_FRACTION)
        )
        if report.over_limit(ingest, max_bad_fraction):
            # TFX deletes this execution's output folders when Do fails: keep
            # the lists beside them, where nothing removes them.
            quarantine_path = keep_refused_lists(quarantine.uri, quarantine_lines, report_text)
        report.check_bad_fraction(ingest, bad, max_bad_fraction, quarantine_path)


def _record_properties(
    props: dict[str, Any],
    ingest: dict[str, Any],
    examples: types.Artifact,
    quarantine: types.Artifact,
) -> None:
    """Ingest counts on both outputs; span, version, fingerprint on Examples (as TFX's driver)."""
    for artifact in (quarantine, examples):
        artifact.set_int_custom_property("files_seen", ingest["files_seen"])
        artifact.set_int_custom_property("examples_written", ingest["examples_written"])
        artifact.set_int_custom_property("quarantined", ingest["quarantined"])
        artifact.set_float_custom_property("bad_fraction", ingest["bad_fraction"])
    # A driver passes only the properties that are set: version may be absent.
    resolved = {**props, inputs.VERSION_KEY: props.get(inputs.VERSION_KEY)}
    driver.update_output_artifact(resolved, examples.mlmd_artifact)


def refused_dir(quarantine_uri: str, now: datetime.datetime | None = None) -> str:
    """`<component folder>/refused/<execution>-<UTC time>`, beside the output folders.

    Locally quarantine_uri is `<root>/<component>/quarantine/<execution id>`;
    on Kubeflow `<root>/<run>/<task>/quarantine`. TFX removes only the
    output URIs of a failed execution, not their parents.
    """
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    output_base = os.path.dirname(quarantine_uri.rstrip("/"))
    execution = os.path.basename(quarantine_uri.rstrip("/"))
    return os.path.join(os.path.dirname(output_base), _REFUSED_DIRNAME, f"{execution}-{stamp}")


def keep_refused_lists(quarantine_uri: str, quarantine_lines: str, report_text: str) -> str:
    """Writes quarantine.jsonl and ingest_report.json under refused_dir; returns the list's path."""
    folder = refused_dir(quarantine_uri)
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, spec.QUARANTINE_FILENAME)
    _write_text(path, quarantine_lines)
    _write_text(os.path.join(folder, files.INGEST_REPORT_FILE), report_text)
    return path
