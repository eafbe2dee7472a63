"""Static checks on what `vrl compile` writes for open-source KFP and Vertex AI."""

import json

import pytest
import yaml

from kubeflow.cluster import (
    ClusterConfig,
    MutableImageWarning,
    check_image,
    parse_gpu,
    parse_label,
    parse_memory_gb,
    parse_pvc,
    resources_for,
)
from kubeflow.compile import KFP_BEAM_ARGS, compile_pipeline, load_package, with_sdk_container
from models.cnn.config import TrainerConfig
from pipeline.image_config import ImagePipelineConfig
from pipeline.rl_config import RlPipelineConfig
from vrl import cli

IMAGE = "registry.example/vrl@sha256:" + "0" * 64


def _image_config():
    return ImagePipelineConfig(
        data_dir="gs://b/images",
        pipeline_root="gs://b/root",
        serving_base="/models",
        input_pattern="span-{SPAN}/*/*",
        trainer=TrainerConfig(epochs=3),
    )


@pytest.fixture(scope="module")
def image_package(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("kfp") / "image.yaml")
    cluster = ClusterConfig(
        image=IMAGE,
        pvc_mounts=(parse_pvc("vrl-model-base:/models"),),
        gpu=parse_gpu("nvidia-tesla-t4:2"),
    )
    compile_pipeline("image", _image_config(), cluster, out)
    with open(out) as f:
        return out, list(yaml.safe_load_all(f))


def test_kfp_package_is_schema_2_1_with_only_container_executors(image_package):
    path, (spec, _) = image_package
    assert spec["schemaVersion"] == "2.1.0" and spec["defaultPipelineRoot"] == "gs://b/root"
    assert {k for e in spec["deploymentSpec"]["executors"].values() for k in e} == {"container"}
    assert load_package(path)[0].pipeline_info.name == "image-classifier"  # kfp's own proto


def test_every_task_requests_resources_and_the_trainer_its_gpu(image_package):
    _, (spec, _) = image_package
    executors = spec["deploymentSpec"]["executors"]
    for name, task in spec["root"]["dag"]["tasks"].items():
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        resources = executors[label]["container"]["resources"]
        assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0, name
        assert ("accelerator" in resources) == (name == "Trainer"), name
    trainer = executors["Trainer_executor"]["container"]["resources"]
    # What kfp's set_accelerator_type('nvidia.com/gpu') + set_accelerator_limit(2) write.
    assert trainer["accelerator"] == {"type": "nvidia.com/gpu", "count": "2"}
    assert all(e["container"]["image"] == IMAGE for e in executors.values())


def test_gpu_type_schedules_on_its_nodes_as_kfp_kubernetes_writes_it(image_package):
    _, (_, platform) = image_package
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    trainer = executors["Trainer_executor"]
    # kubernetes.add_node_selector(task, 'cloud.google.com/gke-accelerator', 'nvidia-tesla-t4')
    # and kubernetes.add_toleration(task, key='nvidia.com/gpu', operator='Exists', effect='NoSchedule')
    assert trainer["nodeSelector"] == {
        "labels": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    }
    assert trainer["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert all(
        "nodeSelector" not in e for label, e in executors.items() if label != "Trainer_executor"
    )
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())


def test_every_tfx_task_runs_through_the_pod_entrypoint_with_its_cpu_request(image_package):
    _, (spec, _) = image_package
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        assert container["command"][:2] == ["python", "-m"], label
        assert container["command"][2] in ("kubeflow.executor", "kubeflow.fingerprint"), label
        env = {e["name"]: e["value"] for e in container["env"]}
        assert float(env["VRL_CPU_REQUEST"]) == container["resources"]["cpuRequest"]


def _beam_args(container: dict) -> list[str]:
    """The Beam args TFX's pod entrypoint hands its executor (its own parser)."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_run

    return tfx_run._parse_flags(container["args"])[1]  # noqa: SLF001


def test_beam_tasks_name_the_image_so_tfx_does_not_package_itself_in_every_pod(
    image_package, monkeypatch
):
    from tfx.utils import dependency_utils

    def packaging(*_):
        raise AssertionError("TFX built an sdist of itself for the Beam workers")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", packaging)
    _, (spec, _) = image_package
    transform = spec["deploymentSpec"]["executors"]["Transform_executor"]["container"]
    args = _beam_args(transform)
    assert args == [*KFP_BEAM_ARGS, f"--sdk_container_image={IMAGE}"]
    # What TFX's BaseBeamExecutor does with them: nothing to add, nothing built.
    assert dependency_utils.make_beam_dependency_flags(args) == args


@pytest.mark.parametrize(
    "given",
    [
        ["--runner=DataflowRunner", "--project=p", "--region=r"],  # needs TFX's own packaging
        ["--direct_num_workers=2", "--setup_file=./setup.py"],  # the user's own
    ],
)
def test_other_runners_and_given_dependencies_are_left_to_tfx(given):
    assert with_sdk_container(given, IMAGE) == given


def test_the_pusher_records_the_image_every_task_runs_for_the_provenance(image_package):
    _, (spec, _) = image_package
    pusher = spec["root"]["dag"]["tasks"]["Pusher"]["inputs"]["parameters"]
    config = json.loads(pusher["custom_config"]["runtimeValue"]["constant"])
    assert config["vrl_image"] == IMAGE and config["vrl_model_name"] == "image_classifier"


def test_claim_is_mounted_into_every_executor(image_package):
    _, (spec, platform) = image_package
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(spec["deploymentSpec"]["executors"])
    assert all(
        e["pvcMount"] == [{"constant": "vrl-model-base", "mountPath": "/models"}]
        for e in executors.values()
    )


def test_runtime_parameters_default_to_the_config_and_new_data_is_never_cached(image_package):
    _, (spec, _) = image_package
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["data_root"]["defaultValue"] == "gs://b/images"
    assert json.loads(params["trainer_config"]["defaultValue"])["epochs"] == 3
    assert params["min_accuracy"]["defaultValue"] == 0.9
    assert params["tflite_max_drop"]["defaultValue"] == 0.02
    assert params["range_config"]["defaultValue"] == ""
    tasks = spec["root"]["dag"]["tasks"]
    # Ingest caches on the data's fingerprint, which an uncached task computes.
    assert tasks["InputFingerprint"]["cachingOptions"] == {"enableCache": False}
    assert tasks["ImageExampleGen"]["cachingOptions"] == {"enableCache": True}
    assert tasks["ImageExampleGen"]["inputs"]["parameters"]["input_fingerprint"] == {
        "taskOutputParameter": {
            "producerTask": "InputFingerprint",
            "outputParameterKey": "input_fingerprint",
        }
    }
    fingerprint_inputs = tasks["InputFingerprint"]["inputs"]["parameters"]
    assert fingerprint_inputs["input_base"] == {"componentInputParameter": "data_root"}
    assert fingerprint_inputs["range_config"] == {"componentInputParameter": "range_config"}
    assert tasks["ServedBaseline"]["cachingOptions"] == {"enableCache": False}
    assert tasks["Trainer"]["cachingOptions"] == {"enableCache": True}


def test_rl_trainer_retrains_every_run_and_tasks_retry_as_kfp_writes_it(tmp_path):
    out = str(tmp_path / "rl.yaml")
    config = RlPipelineConfig(pipeline_root="minio://mlpipeline/v2/artifacts", serving_base="/m")
    cluster = ClusterConfig(
        image=IMAGE, gpu=parse_gpu("nvidia.com/gpu:1"), retries=2, timeout_seconds=7200
    )
    compile_pipeline("rl", config, cluster, out)
    with open(out) as f:
        spec, platform = list(yaml.safe_load_all(f))
    dqn = spec["root"]["dag"]["tasks"]["DqnTrainer"]
    assert dqn["cachingOptions"] == {"enableCache": False}
    # Checkpoints inside the model artifact: the executor cannot write to the minio:// root.
    assert dqn["inputs"]["parameters"]["checkpoint_base"] == {"runtimeValue": {"constant": ""}}
    trainer = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][
        "DqnTrainer_executor"
    ]
    assert "nodeSelector" not in trainer  # a resource name alone: any node with that resource
    assert trainer["tolerations"][0]["key"] == "nvidia.com/gpu"
    from google.protobuf import json_format
    from kfp.dsl import structures

    # What kfp's own task.set_retry(2) writes, on every task.
    want = json_format.MessageToDict(structures.RetryPolicy(max_retry_count=2).to_proto())
    assert all(t["retryPolicy"] == want for t in spec["root"]["dag"]["tasks"].values())
    # kubernetes.set_timeout(task, 7200) on every executor.
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(spec["deploymentSpec"]["executors"])
    assert {e["activeDeadlineSeconds"] for e in executors.values()} == {"7200"}


def test_mounted_pipeline_root_is_refused_in_one_line_before_any_work(tmp_path, capsys):
    argv = ["compile", "rl", "--pipeline-root", str(tmp_path / "root"), "--image", IMAGE]
    argv += ["--serving-base", str(tmp_path / "models")]
    assert cli.main([*argv, "--out", str(tmp_path / "rl.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gs://, s3:// or minio://" in err
    assert not (tmp_path / "rl.yaml").exists()


def test_memory_sizes_in_binary_and_decimal_units():
    assert parse_memory_gb("8G") == 8.0
    assert parse_memory_gb("8Gi") == pytest.approx(8.589935, abs=1e-6)
    assert parse_memory_gb("512Mi") == pytest.approx(0.536871, abs=1e-6)
    assert parse_memory_gb("512M") == 0.512
    assert parse_label("a.b/c=d", "--gpu-node-selector") == ("a.b/c", "d")


def test_beam_task_memory_follows_its_workers_unless_given():
    """One Beam worker per requested CPU, 0.5 GiB each over 1 GiB, at least 4G."""
    assert resources_for("Transform", ClusterConfig(image=IMAGE))["memoryLimit"] == 4.0
    eight = resources_for("Transform", ClusterConfig(image=IMAGE, cpu=8))
    assert eight["memoryRequest"] == eight["memoryLimit"] == pytest.approx(5.368709, abs=1e-6)
    given = resources_for("Transform", ClusterConfig(image=IMAGE, cpu=8, memory="3Gi"))
    assert given["memoryLimit"] == pytest.approx(3.221225, abs=1e-6)
    assert resources_for("SchemaGen", ClusterConfig(image=IMAGE, cpu=8))["memoryLimit"] == 2.0


def test_vertex_target_writes_tfx_pipeline_job_json(tmp_path):
    out = str(tmp_path / "rl.json")
    config = RlPipelineConfig(pipeline_root="gs://b/root", serving_base="gs://b/models")
    compile_pipeline("rl", config, ClusterConfig(image=IMAGE, target="vertex"), out)
    with open(out) as f:
        job = json.load(f)
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/root"
    assert "env_steps" in job["runtimeConfig"]["parameters"]
    assert load_package(out)[0].pipeline_info.name == "vrl-rl-cartpole-v1"


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("image", ["vision-rl-pipeline:latest", "vrl", f"vrl@{DIGEST}"])
def test_image_without_registry_host_or_docker_hub_account_is_refused(image):
    with pytest.raises(ValueError, match="names no registry host or Docker Hub account"):
        check_image(image)


@pytest.mark.parametrize("digest", ["sha256:0", "sha256:abc", "sha256:" + "0" * 63, "latest"])
def test_a_malformed_digest_is_refused(digest):
    with pytest.raises(ValueError, match="is not an image digest; expected sha256: and 64 hex"):
        check_image(f"registry.example/vrl@{digest}")


@pytest.mark.parametrize(
    "image", [f"myuser/vrl@{DIGEST}", f"localhost:5000/vrl@{DIGEST}", f"ghcr.io/o/vrl@{DIGEST}"]
)
def test_an_image_pinned_by_digest_is_accepted_without_warning(image, recwarn):
    check_image(image)  # Docker Hub's implicit registry included
    assert not [w for w in recwarn if issubclass(w.category, MutableImageWarning)]


def test_a_tagged_image_warns():
    for image in ("registry.example/vrl:0.1.0", "team/vrl:1"):
        with pytest.warns(MutableImageWarning, match="prefer the digest"):
            check_image(image)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": "argo"}, "--target must be one of"),
        ({"target": "vertex", "pvc_mounts": (("c", "/m"),)}, "--pvc is for open-source"),
        ({"memory": "8 gigs"}, "expected a size like 8G"),
    ],
)
def test_bad_cluster_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClusterConfig(image=IMAGE, **kwargs)


def test_output_extension_must_match_the_target(tmp_path):
    with pytest.raises(ValueError, match="must end with .yaml or .yml"):
        compile_pipeline(
            "image", _image_config(), ClusterConfig(image=IMAGE), str(tmp_path / "x.json")
        )
    for bad in ("gpu:0", "t4", ":1"):
        with pytest.raises(ValueError, match="RESOURCE:COUNT"):
            parse_gpu(bad)
    with pytest.raises(ValueError, match="CLAIM:/mount/path"):
        parse_pvc("Bad_Claim:/m")
