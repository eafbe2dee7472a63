"""`vrl submit` with the real kfp 2.5 `kfp.Client` against a Kubeflow
Pipelines REST API stand-in on loopback that records every request."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from kubeflow.submit import Schedule, parse_params, submit
from vrl import cli


def _spec() -> dict:
    """A minimal PipelineSpec in the form `vrl compile` writes (schema 2.1)."""
    return {
        "pipelineInfo": {"name": "image-classifier"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "tfx-1.16.0",
        "defaultPipelineRoot": "gs://bucket/root",
        "root": {
            "inputDefinitions": {
                "parameters": {
                    "data_root": {
                        "parameterType": "STRING",
                        "defaultValue": "gs://b/data",
                        "isOptional": True,
                    },
                    "range_config": {
                        "parameterType": "STRING",
                        "defaultValue": "",
                        "isOptional": True,
                    },
                    "min_accuracy": {
                        "parameterType": "NUMBER_DOUBLE",
                        "defaultValue": 0.9,
                        "isOptional": True,
                    },
                    "trainer_config": {
                        "parameterType": "STRING",
                        "defaultValue": json.dumps({"epochs": 20, "image_size": 32}),
                        "isOptional": True,
                    },
                }
            },
            "dag": {
                "tasks": {
                    "Pusher": {"taskInfo": {"name": "Pusher"}, "componentRef": {"name": "Pusher"}}
                }
            },
        },
        "components": {"Pusher": {"executorLabel": "Pusher_executor"}},
        "deploymentSpec": {
            "executors": {"Pusher_executor": {"container": {"image": "r.io/vrl@sha256:1"}}}
        },
    }


@pytest.fixture
def package(tmp_path) -> str:
    path = tmp_path / "image.yaml"
    platform = {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {
                    "executors": {
                        "Pusher_executor": {
                            "pvcMount": [{"constant": "vrl-models", "mountPath": "/models"}]
                        }
                    }
                }
            }
        }
    }
    path.write_text(yaml.safe_dump_all([_spec(), platform]))
    return str(path)


def _posts(server, path):
    return [body for method, p, body in server.requests if method == "POST" and p == path]


def test_run_is_created_with_spec_root_and_typed_parameters(kfp_api, package):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    result = submit(package, host=host, params=parse_params(["min_accuracy=0.95", "epochs=3"]))
    assert (result.kind, result.id) == ("run", "run-1")
    assert _posts(kfp_api, "/apis/v2beta1/experiments")[0]["display_name"] == "vision-rl-pipeline"
    (run,) = _posts(kfp_api, "/apis/v2beta1/runs")
    assert run["experiment_id"] == "exp-1"
    assert re.fullmatch(r"image-classifier \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", run["display_name"])
    # With a platform spec, kfp sends {"pipeline_spec": ..., "platform_spec": ...}.
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "image-classifier"
    assert run["runtime_config"]["pipeline_root"] == "gs://bucket/root"
    params = run["runtime_config"]["parameters"]
    assert params["min_accuracy"] == 0.95
    assert json.loads(params["trainer_config"]) == {"epochs": 3, "image_size": 32}
    mounts = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]
    assert (
        mounts["deploymentSpec"]["executors"]["Pusher_executor"]["pvcMount"][0]["constant"]
        == "vrl-models"
    )


def test_cron_creates_a_recurring_run_with_concurrency_and_no_catchup(kfp_api, package, capsys):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    code = cli.main(
        [
            "submit",
            package,
            "--host",
            host,
            "--cron",
            "0 0 3 * * *",
            "--no-catchup",
            "--max-concurrency",
            "1",
            "--param",
            "data_root=gs://b/new",
        ]
    )
    assert code == 0 and "created recurring_run rr-" in capsys.readouterr().out
    (job,) = _posts(kfp_api, "/apis/v2beta1/recurringruns")
    assert job["display_name"] == "image-classifier"  # KFP stamps each run it starts
    assert job["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert job["no_catchup"] is True and int(job["max_concurrency"]) == 1
    assert job["runtime_config"]["parameters"]["data_root"] == "gs://b/new"
    assert job["runtime_config"]["pipeline_root"] == "gs://bucket/root"


def test_span_param_selects_one_span_through_range_config(kfp_api, package):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    submit(package, host=host, params=parse_params(["span=3"]))
    (run,) = _posts(kfp_api, "/apis/v2beta1/runs")
    rc = json.loads(run["runtime_config"]["parameters"]["range_config"])
    assert rc == {"static_range": {"start_span_number": 3, "end_span_number": 3}}


def test_every_creates_an_interval_trigger(kfp_api, package):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    submit(package, host=host, schedule=Schedule.from_flags(cron=None, every="24h"))
    (job,) = _posts(kfp_api, "/apis/v2beta1/recurringruns")
    assert int(job["trigger"]["periodic_schedule"]["interval_second"]) == 86400


@pytest.mark.parametrize(
    "content, params, message",
    [
        ("pipelineInfo: [not, a, spec]\n", [], "not a Kubeflow PipelineSpec"),
        ("", [], "empty or not a pipeline package"),
        (None, ["nope=1"], "not a parameter of this pipeline"),
        (None, ["min_accuracy=high"], "expected a number"),
    ],
)
def test_invalid_package_or_parameter_creates_nothing(
    kfp_api, tmp_path, package, content, params, message, capsys
):
    path = package
    if content is not None:
        path = str(tmp_path / "bad.yaml")
        with open(path, "w") as f:
            f.write(content)
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    argv = ["submit", path, "--host", host] + [x for p in params for x in ("--param", p)]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert kfp_api.requests == []  # nothing was sent, so nothing was created


def test_json_package_is_refused_before_any_request(kfp_api, tmp_path):
    path = tmp_path / "image.json"
    path.write_text(json.dumps(_spec()))
    with pytest.raises(ValueError, match="YAML package"):
        submit(str(path), host=f"http://127.0.0.1:{kfp_api.server_port}")
    assert kfp_api.requests == []


def test_five_field_cron_is_rejected_with_the_expected_form():
    with pytest.raises(ValueError, match="6 fields"):
        Schedule.from_flags(cron="0 3 * * *", every=None)


def test_run_without_a_root_in_the_package_is_sent_kfps_default_root(kfp_api, tmp_path):
    spec = _spec()
    del spec["defaultPipelineRoot"]
    path = tmp_path / "noroot.yaml"
    path.write_text(yaml.safe_dump(spec))
    submit(str(path), host=f"http://127.0.0.1:{kfp_api.server_port}")
    (run,) = _posts(kfp_api, "/apis/v2beta1/runs")
    assert run["runtime_config"]["pipeline_root"] == "minio://mlpipeline/v2/artifacts"


def test_no_cache_turns_caching_off_for_every_task(kfp_api, tmp_path):
    spec = _spec()
    spec["root"]["dag"]["tasks"]["Pusher"]["cachingOptions"] = {"enableCache": True}
    path = tmp_path / "cached.yaml"
    path.write_text(yaml.safe_dump(spec))
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    assert cli.main(["submit", str(path), "--host", host, "--no-cache"]) == 0
    (run,) = _posts(kfp_api, "/apis/v2beta1/runs")
    task = run["pipeline_spec"]["root"]["dag"]["tasks"]["Pusher"]
    assert not task.get("cachingOptions", {}).get("enableCache")  # proto3 drops False


def test_unreachable_host_is_one_line(package, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.main(["submit", package, "--host", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach Kubeflow Pipelines" in err[0], err


def test_service_account_is_sent_with_the_run(kfp_api, package):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    assert cli.main(["submit", package, "--host", host, "--service-account", "vrl-runner"]) == 0
    (run,) = _posts(kfp_api, "/apis/v2beta1/runs")
    assert run["service_account"] == "vrl-runner"


def test_resubmitting_a_schedule_replaces_it_instead_of_adding_a_second(kfp_api, package, capsys):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    argv = ["submit", package, "--host", host, "--cron", "0 0 3 * * *"]
    assert cli.main(argv) == 0
    (first,) = kfp_api.recurring_runs
    assert cli.main([*argv[:-1], "0 30 4 * * *"]) == 0
    (second,) = kfp_api.recurring_runs  # one schedule left: the new one
    assert second != first
    assert ("DELETE", f"/apis/v2beta1/recurringruns/{first}", None) in kfp_api.requests
    assert f"deleted recurring_run {first}: replaced by {second}" in capsys.readouterr().out
    # Deleted only after the new one was created.
    methods = [m for m, p, _ in kfp_api.requests if "recurringruns" in p]
    assert methods[-2:] == ["POST", "DELETE"]


def test_upload_creates_the_pipeline_once_then_a_version_per_submit(kfp_api, package, capsys):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    argv = ["submit", package, "--host", host, "--upload", "--param", "min_accuracy=0.8"]
    assert cli.main(argv) == 0 and cli.main(argv) == 0
    uploads = [(p, b) for m, p, b in kfp_api.requests if p.startswith("/apis/v2beta1/pipelines/")]
    assert [p.rsplit("/", 1)[1] for p, _ in uploads] == [
        "upload",
        "upload_version",
        "upload_version",
    ]
    assert uploads[0][1]["query"]["name"] == "image-classifier"
    assert b"image-classifier" in uploads[1][1]["file"]  # the package itself
    versions = [b["query"]["name"] for p, b in uploads[1:]]
    pattern = r"image-classifier \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC( [0-9a-f]{12})?"
    assert all(re.fullmatch(pattern, v) for v in versions), versions
    runs = _posts(kfp_api, "/apis/v2beta1/runs")
    assert [r["pipeline_version_reference"]["pipeline_id"] for r in runs] == ["p-1", "p-1"]
    assert "pipeline_spec" not in runs[0]  # the server's version, not a package
    assert runs[0]["runtime_config"]["parameters"]["min_accuracy"] == 0.8
