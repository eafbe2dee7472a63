"""The serving ConfigMap lists the models compiled packages push, at the paths the
tensorflow/serving Deployment (claim at /models) finds them."""

from __future__ import annotations

import pytest
import yaml

from kubeflow import serving_config
from kubeflow.cluster import ClusterConfig, parse_pvc
from kubeflow.compile import compile_pipeline
from pipeline.rl_config import RlPipelineConfig
from serving.model_config import parse_config_text

IMAGE = "registry.example/vrl@sha256:" + "0" * 64


def test_models_on_the_claim_are_served_from_its_mount_in_the_server(tmp_path):
    out = str(tmp_path / "rl.yaml")
    config = RlPipelineConfig(
        pipeline_root="s3://b/root", serving_base="/data/models", env_id="Acrobot-v1"
    )
    cluster = ClusterConfig(image=IMAGE, pvc_mounts=(parse_pvc("vrl-model-base:/data"),))
    compile_pipeline("rl", config, cluster, out)
    doc = yaml.safe_load(serving_config.configmap([out]))
    assert doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "vrl-serving-config"
    _, specs = parse_config_text(doc["data"]["models.config"])
    assert [(s.name, s.base_path) for s in specs] == [
        ("dqn_acrobot_v1", "/models/models/dqn_acrobot_v1")
    ]
    assert "prometheus_config" in doc["data"]["monitoring.config"]


def test_a_base_off_the_claims_is_refused_and_a_bucket_is_served_directly():
    assert serving_config.server_path("gs://b/m/cnn", [], "/models") == "gs://b/m/cnn"
    assert serving_config.server_path("/data/m/cnn", ["/data"], "/models") == "/models/m/cnn"
    with pytest.raises(ValueError, match="on no claim the pipeline mounts"):
        serving_config.server_path("/elsewhere/cnn", ["/data"], "/models")
