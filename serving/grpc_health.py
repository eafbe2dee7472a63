"""The standard gRPC health service (grpc.health.v1.Health/Check), as TF Serving's
`--enable_grpc_healthcheck_service` turns it on for Kubernetes gRPC probes.

TF Serving enables gRPC's default health service and marks "ModelService" and
"PredictionService" SERVING; the overall service ("") is SERVING while the server
runs. grpcio ships no health messages (they come with grpcio-health-checking,
which is not pinned here), so the two messages of grpc/health/v1/health.proto are
declared below with its package, field names and numbers; the wire format is
what every health client (grpc_health_probe, the kubelet) sends and reads.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool

from serving.tfs_config import message_class

SERVICE = "grpc.health.v1.Health"
SERVING, SERVICE_UNKNOWN = 1, 3
"""HealthCheckResponse.ServingStatus values used here."""
SERVICES = ("", "ModelService", "PredictionService")
"""Service names reported SERVING: the overall server and the two TF Serving's server.cc sets."""


def _messages():
    f = descriptor_pb2.FileDescriptorProto(
        name="vrl_serving/grpc_health_v1.proto", package="grpc.health.v1", syntax="proto3"
    )
    request = f.message_type.add(name="HealthCheckRequest")
    request.field.add(
        name="service",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    response = f.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")):
        status.value.add(name=name, number=number)
    response.field.add(
        name="status",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_ENUM,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return (
        message_class(pool, "grpc.health.v1.HealthCheckRequest"),
        message_class(pool, "grpc.health.v1.HealthCheckResponse"),
    )


HealthCheckRequest, HealthCheckResponse = _messages()


def _check(request, context):
    if request.service in SERVICES:
        return HealthCheckResponse(status=SERVING)
    context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")


def add_health_service(server: grpc.Server) -> None:
    """Registers grpc.health.v1.Health/Check on `server`."""
    handler = grpc.unary_unary_rpc_method_handler(
        _check,
        request_deserializer=HealthCheckRequest.FromString,
        response_serializer=HealthCheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Check": handler}),)
    )
