"""The pod entrypoint's fitting of TFX to KFP's launcher (no TensorFlow needed)."""

from __future__ import annotations

import json

import pytest

from kubeflow import executor
from kubeflow.objectstore import check_pipeline_root, local_path_for_uri


def test_artifact_uris_become_the_launchers_local_paths_and_come_back(tmp_path, monkeypatch):
    monkeypatch.setenv("VRL_ARTIFACT_LOCAL_ROOT", str(tmp_path))
    examples = "minio://mlpipeline/v2/artifacts/p/r/ImageExampleGen/examples"
    model = "s3://bucket/root/p/r/Trainer/model"
    output_file = tmp_path / "out.json"
    executor_input = {
        "inputs": {
            "parameterValues": {"input_fingerprint": "span:1", "epochs": 2},
            "artifacts": {
                "blessing": {
                    "artifacts": [{"uri": "s3://b/e", "metadata": {"baseline_model": model}}]
                },
                "examples": {"artifacts": [{"uri": examples}]},
            },
        },
        "outputs": {
            "artifacts": {"model": {"artifacts": [{"uri": model}]}},
            "outputFile": str(output_file),
        },
    }
    back = executor.localize(executor_input)
    local_model = executor_input["outputs"]["artifacts"]["model"]["artifacts"][0]["uri"]
    assert local_model == str(tmp_path / "s3/bucket/root/p/r/Trainer/model")
    local_examples = executor_input["inputs"]["artifacts"]["examples"]["artifacts"][0]["uri"]
    assert local_examples == str(
        tmp_path / "minio/mlpipeline/v2/artifacts/p/r/ImageExampleGen/examples"
    )
    assert executor_input["inputs"]["parameterValues"] == {"epochs": 2}  # cache-key only
    blessing = executor_input["inputs"]["artifacts"]["blessing"]["artifacts"][0]
    assert blessing["metadata"]["baseline_model"] == local_model  # never an s3:// path
    # TFX reports the URIs it was given; the launcher must record the originals.
    output_file.write_text(
        json.dumps(
            {
                "artifacts": {
                    "model": {
                        "artifacts": [
                            {
                                "uri": local_model,
                                "metadata": {"a": 1, "current_model": local_examples},
                            }
                        ]
                    }
                }
            }
        )
    )
    executor.restore_uris(str(output_file), back)
    reported = json.loads(output_file.read_text())["artifacts"]["model"]["artifacts"][0]
    assert reported == {"uri": model, "metadata": {"a": 1, "current_model": examples}}


def test_launcher_rules_for_roots_and_local_paths():
    assert local_path_for_uri("gs://b/k", "/") == "/gcs/b/k"
    assert local_path_for_uri("/mnt/data", "/") is None
    for root in ("minio://mlpipeline/v2/artifacts", "s3://b", "gs://b/p/", "mem://x"):
        check_pipeline_root(root)
    for root in ("/mnt/root", "file:///root", "hdfs://nn/root", "s3://"):
        with pytest.raises(ValueError, match="object store root"):
            check_pipeline_root(root)


def test_zero_beam_workers_is_replaced_and_explicit_counts_kept(tmp_path):
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
    assert executor.fit_beam_args(args, lambda: 3)[1] == "--direct_num_workers=3"
    assert executor.fit_beam_args(["--direct_num_workers=2"], lambda: 3) == [
        "--direct_num_workers=2"
    ]
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "memory.max").write_text(f"{3 << 30}\n")
    assert executor.cgroup_cpu_limit(str(tmp_path)) == 1.5
    assert executor.cgroup_memory_limit(str(tmp_path)) == 3 << 30
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert executor.cgroup_cpu_limit(str(tmp_path)) is None


def test_beam_workers_follow_the_pods_cpu_and_memory_not_the_nodes():
    gib = 1 << 30
    assert executor.pod_beam_workers(None, 4 * gib, cpu_request=1.0, cpu_count=64) == 1
    assert executor.pod_beam_workers(4.0, 4 * gib, cpu_request=1.0, cpu_count=64) == 4
    assert (
        executor.pod_beam_workers(None, 2 * gib, cpu_request=8.0, cpu_count=64) == 2
    )  # memory caps it
    assert executor.pod_beam_workers(None, None, cpu_request=None, cpu_count=3) == 3


def test_dockerfile_puts_python_on_path_in_both_variants_and_checks_it():
    import pathlib

    text = (pathlib.Path(__file__).parents[2] / "kubeflow" / "Dockerfile").read_text()
    # The Ubuntu (CUDA) base installs python-is-python3 with its Python 3.10 ...
    assert "python-is-python3" in text.split("command -v python3.10")[1].split("fi")[0]
    # ... and the build fails unless `python` is 3.10 with the entrypoint importable.
    assert (
        'python -c "import sys, kubeflow.executor; assert sys.version_info[:2] == (3, 10)' in text
    )
    assert "cudnn9" not in text  # TF 2.16's cuDNN 8.9 comes from tensorflow[and-cuda]


def test_a_blessings_model_ids_become_the_artifact_names_they_hash(tmp_path):
    """TFX gives an input artifact the id sha256(name) % 2**63-1 in the pod; KFP keeps
    metadata numbers as doubles. The id comes back as the name, not a float."""
    model_id = 8_123_456_789_012_345_678
    names = {model_id: "run-1-DqnTrainer-model"}
    output_file = tmp_path / "out.json"
    blessing = {"current_model_id": float(model_id), "baseline_model_id": 7.0, "blessed": 1}
    output_file.write_text(
        json.dumps({"artifacts": {"blessing": {"artifacts": [{"metadata": blessing}]}}})
    )
    executor.restore_uris(str(output_file), {}, names)
    written = json.loads(output_file.read_text())["artifacts"]["blessing"]["artifacts"][0]
    assert written["metadata"] == {
        "current_model_id": "run-1-DqnTrainer-model",
        "baseline_model_id": 7.0,  # no input of this task: left as it was
        "blessed": 1,
    }
