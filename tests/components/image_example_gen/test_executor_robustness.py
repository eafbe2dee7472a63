"""ImageExampleGen executor on hostile inputs and storage: names that are not
UTF-8, the refused list surviving a failed run, Kubeflow's entrypoint without
a driver, and ram:// URIs. Each test is one small Beam DirectRunner run."""

from __future__ import annotations

import argparse
import json
import os
import uuid

import pytest
import tensorflow as tf
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.orchestration.portable import outputs_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as std
from tfx.utils import proto_utils

from components.image_example_gen import component, executor, ops, report, spec
from contracts import files
from vrl.runner import local_beam_args

pytestmark = pytest.mark.slow  # runs the executor's Beam job per case: not in `make check`

# The local runs' Beam args (none: Beam's defaults; see local_beam_args).
BEAM_ARGS = local_beam_args()
SPAN_PATTERN = files.SPAN_FOLDER_PATTERN


def _props(input_base: str, pattern: str = "*/*", max_bad_fraction: float = 0.5) -> dict:
    return {
        std.INPUT_BASE_KEY: input_base,
        std.INPUT_CONFIG_KEY: proto_utils.proto_to_json(component.default_input_config(pattern)),
        std.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(component.default_output_config(0.5)),
        std.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        std.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        spec.INPUT_FORMAT_KEY: "auto",
        spec.MAX_BAD_FRACTION_KEY: max_bad_fraction,
        spec.MIN_SIDE_KEY: 8,
        spec.MAX_SIDE_KEY: 4096,
        spec.MAX_IMAGE_PIXELS_KEY: 4096 * 4096,
    }


def _outputs(examples_uri: str, quarantine_uri: str) -> dict:
    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    quarantine = spec.QuarantineReport()
    quarantine.uri = quarantine_uri
    return {spec.EXAMPLES_KEY: [examples], spec.QUARANTINE_KEY: [quarantine]}


def _do(outputs: dict, props: dict) -> None:
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)
    executor.Executor(context).Do({}, outputs, props)


def _read(uri: str) -> str:
    with tf.io.gfile.GFile(uri) as f:
        return f.read()


def _write_tree(root: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(root, rel)))
        with tf.io.gfile.GFile(os.path.join(root, rel), "wb") as f:
            f.write(data)


def _images(imaging, prefix: str, n: int = 3) -> dict[str, bytes]:
    return {
        f"{prefix}{cls}/{cls}{i}.png": imaging.encode(imaging.rgb(10 * k + i), "PNG")
        for k, cls in enumerate(("cat", "dog"))
        for i in range(n)
    }


def test_undecodable_names_are_quarantined_and_span_resolved_without_a_driver(tmp_path, imaging):
    data = tmp_path / "data"
    _write_tree(str(data), {**_images(imaging, "span-1/", 1), **_images(imaging, "span-2/")})
    png = imaging.cases["rgb.png"][0]
    (data / "span-2" / "cat" / os.fsdecode(b"b\xfe.png")).write_bytes(png)
    (data / "span-2" / os.fsdecode(b"d\xffog")).mkdir()
    (data / "span-2" / os.fsdecode(b"d\xffog") / "c.png").write_bytes(png)
    outputs = _outputs(str(tmp_path / "examples"), str(tmp_path / "quarantine"))

    _do(outputs, _props(str(data), SPAN_PATTERN))

    (examples,), (quarantine,) = outputs[spec.EXAMPLES_KEY], outputs[spec.QUARANTINE_KEY]
    bad = [
        json.loads(line)
        for line in _read(os.path.join(quarantine.uri, "quarantine.jsonl")).splitlines()
    ]
    assert [(r["path"], r["reason"]) for r in bad] == [
        ("span-2/cat/b\\xfe.png", ops.UNDECODABLE_NAME),
        ("span-2/d\\xffog/c.png", ops.UNDECODABLE_NAME),
    ]
    ingest = json.loads(_read(os.path.join(quarantine.uri, "ingest_report.json")))
    assert ingest["files_seen"] == 8 == ingest["examples_written"] + ingest["quarantined"]
    assert ingest["span"] == 2 and ingest["label_vocab"] == ["cat", "dog"]
    assert examples.get_int_custom_property("span") == 2
    assert examples.get_string_custom_property("input_fingerprint").startswith(
        "split:single_split,num_files:8,"
    )


def test_refused_list_survives_tfx_removing_the_failed_outputs(tmp_path, imaging):
    files = _images(imaging, "")
    for i in range(7):
        files[f"dog/broken{i}.png"] = b"not an image %d" % i
    _write_tree(str(tmp_path / "data"), files)
    out = tmp_path / "root" / "ImageExampleGen"
    outputs = _outputs(str(out / "examples" / "7"), str(out / "quarantine" / "7"))
    outputs_utils.make_output_dirs(outputs)

    with pytest.raises(report.TooManyBadFilesError) as err:
        _do(outputs, _props(str(tmp_path / "data"), max_bad_fraction=0.1))
    outputs_utils.remove_output_dirs(outputs)  # what TFX's launcher does on failure

    listed = err.value.args[0].split("Full list: ")[1].split(". ")[0]
    assert listed.startswith(str(out / "refused" / "7-")) and os.path.isfile(listed)
    with open(listed) as f:
        paths = sorted(json.loads(line)["path"] for line in f)
    assert paths == [f"dog/broken{i}.png" for i in range(7)]
    with open(os.path.join(os.path.dirname(listed), "ingest_report.json")) as f:
        assert json.load(f)["quarantined"] == 7
    assert not (out / "quarantine" / "7").exists()


def _parameter(value) -> tuple[object, int]:
    """(parameterValues entry, ParameterType) as KFP's driver passes a parameter."""
    kinds = pipeline_spec_pb2.ParameterType
    if isinstance(value, str):
        return value, kinds.STRING
    return value, kinds.NUMBER_DOUBLE if isinstance(value, float) else kinds.NUMBER_INTEGER


def test_kubeflow_entrypoint_without_driver_records_span_and_fingerprint(tmp_path, imaging):
    data = tmp_path / "data"
    _write_tree(str(data), {**_images(imaging, "span-4/", 1), **_images(imaging, "span-9/")})
    props = _props(str(data), SPAN_PATTERN)
    values, types = {}, {}
    for key, value in props.items():
        values[key], types[key] = _parameter(value)
    schema = "title: {}\ntype: object\n"
    artifact = {
        key: {"artifacts": [{"uri": str(tmp_path / key), "type": {"instanceSchema": schema}}]}
        for key in ("examples", "quarantine")
    }
    artifact["examples"]["artifacts"][0]["type"]["instanceSchema"] = schema.format("tfx.Examples")
    artifact["quarantine"]["artifacts"][0]["type"]["instanceSchema"] = schema.format(
        spec.QuarantineReport.TYPE_NAME
    )
    output_file = tmp_path / "task" / "executor_output.json"
    invocation = {
        "inputs": {"parameterValues": values},
        "outputs": {"artifacts": artifact, "outputFile": str(output_file)},
    }
    inputs_spec = {"parameters": {k: {"parameterType": t} for k, t in types.items()}}
    args = argparse.Namespace(
        executor_class_path="components.image_example_gen.executor.Executor",
        json_serialized_invocation_args=json.dumps(invocation),
        json_serialized_inputs_spec_args=json.dumps(inputs_spec),
    )

    kubeflow_v2_run_executor._run_executor(args, BEAM_ARGS)

    result = json.loads(output_file.read_text())
    metadata = result["artifacts"]["examples"]["artifacts"][0]["metadata"]
    expected_fp, expected_span, _ = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        str(data), component.default_input_config(SPAN_PATTERN).splits
    )
    # Custom property `span` (as TFX's driver sets it); KFP prefixes it because
    # the Examples type also has a `span` property.
    assert metadata["custom:span"] == expected_span == 9
    assert metadata["input_fingerprint"] == expected_fp
    assert "version" not in metadata  # no {VERSION} in the pattern, as the driver leaves it
    assert metadata["examples_written"] == 6


def test_ram_uris_work_for_inputs_and_report_but_beam_cannot_write_examples(tmp_path, imaging):
    base = f"ram://ingest-{uuid.uuid4().hex}"
    _write_tree(f"{base}/data", {**_images(imaging, ""), "dog/empty.png": b""})

    outputs = _outputs(str(tmp_path / "examples"), f"{base}/out/quarantine/1")
    _do(outputs, _props(f"{base}/data"))
    quarantine_uri = outputs[spec.QUARANTINE_KEY][0].uri
    ingest = json.loads(_read(f"{quarantine_uri}/ingest_report.json"))
    assert ingest["examples_written"] == 6 and ingest["quarantined_per_reason"] == {"empty": 1}
    assert not tf.io.gfile.exists(f"{quarantine_uri}/_staging")

    # TFX's WriteSplit writes examples with Beam's WriteToTFRecord; Beam has no ram://.
    outputs = _outputs(f"{base}/out/examples/2", f"{base}/out/quarantine/2")
    with pytest.raises(ValueError, match="Unable to get filesystem from specified path"):
        _do(outputs, _props(f"{base}/data"))
