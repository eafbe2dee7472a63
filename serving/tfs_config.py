"""TF Serving's text-proto side files: --batching_parameters_file, --monitoring_config_file.

tensorflow-serving-api does not ship `BatchingParameters` or `MonitoringConfig`, so
their messages are declared here with the field names of TF Serving's
session_bundle_config.proto and monitoring_config.proto, and the files are parsed
by protobuf's own text format parser (unknown fields and bad values are errors).
"""

from __future__ import annotations

import os

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from serving.batching import BatchingOptions
from serving.metrics import DEFAULT_PATH

_F = descriptor_pb2.FieldDescriptorProto
_WRAPPERS = {
    "Int64Value": ".google.protobuf.Int64Value",
    "StringValue": ".google.protobuf.StringValue",
    "BoolValue": ".google.protobuf.BoolValue",
}
# TF Serving's BasicBatchScheduler defaults when batching is on and no file is given.
TFS_DEFAULT_MAX_BATCH_SIZE = 1000
TFS_DEFAULT_TIMEOUT_MICROS = 0
TFS_DEFAULT_MAX_ENQUEUED_BATCHES = 10  # SharedBatchScheduler QueueOptions
TFS_THREAD_POOL_NAME = "model_server_batch_threads"  # main.cc, batching without a file
TFS_FILE_THREAD_POOL_NAME = "batch_threads"  # SharedBatchScheduler Options default


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="vrl_serving/tfs_side_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = f.message_type.add(name="BatchingParameters")
    for number, (name, wrapper) in enumerate(
        [
            ("max_batch_size", "Int64Value"),
            ("batch_timeout_micros", "Int64Value"),
            ("max_enqueued_batches", "Int64Value"),
            ("num_batch_threads", "Int64Value"),
            ("thread_pool_name", "StringValue"),
        ],
        start=1,
    ):
        batching.field.add(
            name=name, number=number, type=_F.TYPE_MESSAGE, type_name=_WRAPPERS[wrapper]
        )
    batching.field.add(
        name="allowed_batch_sizes", number=6, type=_F.TYPE_INT64, label=_F.LABEL_REPEATED
    )
    batching.field.add(name="pad_variable_length_inputs", number=7, type=_F.TYPE_BOOL)
    batching.field.add(
        name="enable_large_batch_splitting",
        number=8,
        type=_F.TYPE_MESSAGE,
        type_name=_WRAPPERS["BoolValue"],
    )
    batching.field.add(
        name="max_execution_batch_size",
        number=9,
        type=_F.TYPE_MESSAGE,
        type_name=_WRAPPERS["Int64Value"],
    )
    prometheus = f.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=_F.TYPE_BOOL)
    prometheus.field.add(name="path", number=2, type=_F.TYPE_STRING)
    monitoring = f.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=_F.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    return f


def _classes():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_file())

    return (
        message_class(pool, "tensorflow.serving.BatchingParameters"),
        message_class(pool, "tensorflow.serving.MonitoringConfig"),
    )


def message_class(pool: descriptor_pool.DescriptorPool, full_name: str) -> type:
    """The generated message class of a message declared in `pool`."""
    descriptor = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


BatchingParameters, MonitoringConfig = _classes()


def _parse(path: str, message, flag: str):
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), message)
    except OSError as e:
        raise ValueError(f"--{flag} {path}: cannot read: {e.strerror}") from e
    except text_format.ParseError as e:
        name = message.DESCRIPTOR.name
        raise ValueError(f"--{flag} {path}: not a text-format {name}: {e}") from e
    return message


def _value(params, field: str, default):
    return getattr(params, field).value if params.HasField(field) else default


def batching_options_from_file(path: str | None, num_threads: int | None = None) -> BatchingOptions:
    """BatchingOptions from a TF Serving batching parameters file (None: TF Serving's defaults).

    Every field read is honoured; the fields that would change batching in ways this
    server does not implement are refused with ValueError naming the field.
    """
    params = BatchingParameters()
    flag = f"--batching_parameters_file {path}"
    if path:
        _parse(path, params, "batching_parameters_file")
    refused = [
        name
        for name, given in (
            ("pad_variable_length_inputs", params.pad_variable_length_inputs),
            ("enable_large_batch_splitting", _value(params, "enable_large_batch_splitting", False)),
            ("max_execution_batch_size", params.HasField("max_execution_batch_size")),
        )
        if given
    ]
    if refused:
        raise ValueError(
            f"{flag}: {', '.join(refused)} not supported by vrl serve (requests of one batch "
            "must have the same per-row shapes; a request over max_batch_size runs alone)"
        )
    max_batch = _value(params, "max_batch_size", TFS_DEFAULT_MAX_BATCH_SIZE)
    timeout = _value(params, "batch_timeout_micros", TFS_DEFAULT_TIMEOUT_MICROS)
    threads = _value(params, "num_batch_threads", num_threads or os.cpu_count() or 1)
    if max_batch < 1 or timeout < 0 or threads < 1:
        raise ValueError(
            f"{flag}: max_batch_size and num_batch_threads must be "
            f">= 1 and batch_timeout_micros >= 0 (got {max_batch}, {threads}, {timeout})"
        )
    try:
        return BatchingOptions(
            int(max_batch),
            timeout / 1e6,
            int(threads),
            int(_value(params, "max_enqueued_batches", TFS_DEFAULT_MAX_ENQUEUED_BATCHES)),
            tuple(int(s) for s in params.allowed_batch_sizes),
            _value(params, "thread_pool_name", TFS_FILE_THREAD_POOL_NAME if path else None)
            or TFS_THREAD_POOL_NAME,
        )
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from e


def prometheus_path_from_file(path: str | None) -> str | None:
    """The metrics URL path a monitoring config enables, or None when it disables them.

    Without a file, `vrl serve` publishes metrics at TF Serving's default path (TF
    Serving itself publishes none without one).
    """
    if not path:
        return DEFAULT_PATH
    config = _parse(path, MonitoringConfig(), "monitoring_config_file")
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PATH
