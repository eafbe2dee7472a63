"""The admin RPC (ModelService/HandleReloadConfigRequest) can be turned off: `vrl serve
--disable-admin-rpc` refuses it to a TF Serving client, and the shipped Kubernetes
manifests refuse it to the real tensorflow/serving through Istio (issue 21)."""

from __future__ import annotations

import argparse
import os

import grpc
import pytest
import yaml
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
)

from serving import deploy
from serving.flags import server_options
from serving.options import ServerOptions
from serving.server import start_server
from vrl import labels
from vrl import serve as cli

RELOAD_PATH = "/tensorflow.serving.ModelService/HandleReloadConfigRequest"


def _options(*argv: str) -> ServerOptions:
    parser = argparse.ArgumentParser(prog="vrl")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return server_options(parser.parse_args(["serve", "--model_base_path=/m", *argv]))


def test_the_flag_turns_the_admin_rpc_off_and_tf_serving_s_default_keeps_it_on():
    assert _options().admin_rpc is True  # TF Serving's behaviour
    assert _options("--disable_admin_rpc").admin_rpc is False
    assert _options("--disable-admin-rpc=true").admin_rpc is False
    assert _options("--disable-admin-rpc=false").admin_rpc is True


def test_the_reload_path_is_the_method_tf_serving_s_stub_calls():
    method = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].methods_by_name[
        "HandleReloadConfigRequest"
    ]
    assert RELOAD_PATH == f"/{method.containing_service.full_name}/{method.name}"


@pytest.mark.slow  # loads the shared tiny models into a server of its own
def test_a_disabled_admin_rpc_refuses_a_reload_and_keeps_the_served_models(model_base):
    handle = start_server(
        ServerOptions(model_base=model_base, grpc_port=0, rest_port=None, admin_rpc=False)
    )
    try:
        handle.wait_until_available("cnn", timeout=60)
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            request = model_management_pb2.ReloadConfigRequest()
            entry = request.config.model_config_list.config.add()
            entry.name, entry.base_path, entry.model_platform = "x", "/tmp/x", "tensorflow"
            with pytest.raises(grpc.RpcError) as refused:
                stub.HandleReloadConfigRequest(request, 30.0)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "--disable-admin-rpc" in refused.value.details()
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "cnn"  # still served; the read-only call still answers
            (version,) = stub.GetModelStatus(status, 30.0).model_version_status
            assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        with pytest.raises(OSError, match=r"reload failed: .*--disable-admin-rpc"):
            labels.reload_server(f"127.0.0.1:{handle.grpc_port}", request.config)  # vrl label
    finally:
        handle.stop()


def test_the_k8s_manifests_deny_the_reload_to_the_tf_serving_pods():
    docs = {}
    for name in sorted(os.listdir(deploy.K8S_DIR)):
        with open(os.path.join(deploy.K8S_DIR, name)) as f:
            doc = yaml.safe_load(f)
        docs[doc["kind"]] = doc
    policy = docs["AuthorizationPolicy"]
    pod = docs["Deployment"]["spec"]["template"]["metadata"]
    assert policy["spec"]["action"] == "DENY"
    assert policy["spec"]["selector"]["matchLabels"].items() <= pod["labels"].items()
    (rule,) = policy["spec"]["rules"]
    assert rule["to"][0]["operation"]["paths"] == [RELOAD_PATH]
    assert pod["annotations"]["sidecar.istio.io/inject"] == "true"
    assert docs["Service"]["spec"]["ports"][0]["name"] == "grpc"  # Istio reads it as gRPC
