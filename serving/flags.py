"""`vrl serve` flags: the project's spellings and TF Serving's own (tensorflow_model_server).

TF Serving's flags keep their names and meanings (`--port 0` and `--rest_api_port 0`
disable that API; `--enable_model_warmup=false` style booleans), so a
tensorflow_model_server command line runs unchanged. Importing this module does
not import TensorFlow.
"""

from __future__ import annotations

import argparse
import os

from serving.limit_flags import add_limit_arguments, limits_from_args
from serving.options import MAX_MESSAGE_BYTES, ServerOptions
from serving.request_log_limits import add_request_log_arguments, request_log_limits_from_args
from serving.tfs_flags import (
    add_tfs_arguments,
    channel_arguments,
    check_tfs_arguments,
    session_parallelism,
    tfs_bool,
)

_DEFAULTS = ServerOptions()
"""Where the flags that are plain server options take their defaults from."""
DEFAULT_HOST = _DEFAULTS.host
GRPC_PORT = _DEFAULTS.grpc_port
REST_PORT = _DEFAULTS.rest_port
_CPUS = os.cpu_count() or 1
DEFAULT_MAX_REQUEST_MB = 2048.0  # TF Serving: int32 max bytes


def _bool_flag(group, name: str, default: bool, help_text: str, dest: str | None = None) -> None:
    group.add_argument(
        name,
        dest=dest,
        type=tfs_bool,
        nargs="?",
        const=True,
        default=default,
        metavar="true|false",
        help=help_text,
    )


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """Adds every `vrl serve` flag to `serve`, one group at a time."""
    _add_model_arguments(serve)
    _add_network_arguments(serve)
    add_limit_arguments(serve)
    add_request_log_arguments(serve)
    _add_behaviour_arguments(serve)
    _add_batching_arguments(serve)
    add_tfs_arguments(serve)
    _add_deploy_arguments(serve)


def _add_model_arguments(serve: argparse.ArgumentParser) -> None:
    """The served models: a base, one model folder or a model config file."""
    source = serve.add_argument_group("models")
    source.add_argument(
        "--model-base", help="base of many models: <base>/<model>/<version>/ (model = folder name)"
    )
    source.add_argument(
        "--model-config", "--model_config_file", help="TF Serving text-proto ModelServerConfig"
    )
    source.add_argument(
        "--model_base_path",
        help="one model's folder <path>/<version>/, served as --model_name (TF Serving)",
    )
    source.add_argument("--model_name", default="default", help="name for --model_base_path")
    source.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=_DEFAULTS.config_poll_seconds,
        help="re-read the model config file this often (0: never)",
    )
    source.add_argument(
        "--poll-seconds",
        "--file_system_poll_wait_seconds",
        type=float,
        default=_DEFAULTS.poll_seconds,
        help="how often model folders are polled for new versions (0: once at start)",
    )
    _bool_flag(
        source,
        "--allow_version_labels_for_unavailable_models",
        _DEFAULTS.allow_labels_for_unavailable,
        "allow config labels that name versions not loaded yet (new labels only)",
    )


def _add_network_arguments(serve: argparse.ArgumentParser) -> None:
    """Ports, threads and what one connection may send."""
    net = serve.add_argument_group("network")
    net.add_argument("--grpc-port", type=int, default=GRPC_PORT, help="gRPC port; 0 picks one")
    net.add_argument("--rest-port", type=int, default=REST_PORT, help="REST port; 0 picks one")
    net.add_argument(
        "--port", type=int, help="TF Serving's gRPC port, 0 disables gRPC (unset: --grpc-port)"
    )
    net.add_argument(
        "--rest_api_port",
        type=int,
        help="TF Serving's REST port, 0 disables REST (unset: --rest-port)",
    )
    net.add_argument("--host", default=DEFAULT_HOST, help="interface to bind")
    net.add_argument(
        "--grpc-workers", "--grpc_max_threads", type=int, default=4 * _CPUS, help="gRPC threads"
    )
    net.add_argument(
        "--rest_api_timeout_in_ms",
        type=int,
        default=int(_DEFAULTS.rest_timeout_s * 1000),
        help="longest a REST predict/classify/regress may take from its body's arrival to "
        "its answer (later: HTTP 504 / DEADLINE_EXCEEDED; gRPC uses the client's deadline)",
    )
    _bool_flag(
        net,
        "--enable_grpc_healthcheck_service",
        _DEFAULTS.grpc_health,
        "serve grpc.health.v1.Health/Check (SERVING for '', ModelService, PredictionService)",
    )
    net.add_argument(
        "--disable-admin-rpc",
        "--disable_admin_rpc",
        dest="disable_admin_rpc",
        type=tfs_bool,
        nargs="?",
        const=True,
        default=not _DEFAULTS.admin_rpc,
        metavar="true|false",
        help="refuse ModelService/HandleReloadConfigRequest (PERMISSION_DENIED), which TF "
        "Serving answers from anyone who reaches the gRPC port; the served models then change "
        "only through --model_config_file (see --model_config_file_poll_wait_seconds). "
        "Not a tensorflow_model_server flag",
    )
    net.add_argument(
        "--rest_api_num_threads",
        type=int,
        default=4 * _CPUS,
        help="most REST requests processed at once",
    )
    net.add_argument(
        "--max-request-mb",
        type=float,
        default=DEFAULT_MAX_REQUEST_MB,
        help="largest gRPC message / REST body (TF Serving: 2 GiB); oversized REST gets 429",
    )
    net.add_argument(
        "--grpc_channel_arguments",
        default="",
        help="comma-separated key=value gRPC server arguments, e.g. "
        "grpc.max_receive_message_length=1048576",
    )


def _add_behaviour_arguments(serve: argparse.ArgumentParser) -> None:
    """TF Serving's switches for warmup, signatures, metrics and TensorFlow's threads."""
    behaviour = serve.add_argument_group("TF Serving behaviour")
    _bool_flag(
        behaviour,
        "--enable_model_warmup",
        _DEFAULTS.warmup,
        "replay assets.extra/tf_serving_warmup_requests",
    )
    behaviour.add_argument(
        "--num_request_iterations_for_warmup",
        type=int,
        default=_DEFAULTS.warmup_iterations,
        help="times each warmup request runs",
    )
    _bool_flag(
        behaviour,
        "--enable_signature_method_name_check",
        _DEFAULTS.method_name_check,
        "Classify/Regress only on signatures with the classify/regress method name",
    )
    _bool_flag(
        behaviour,
        "--enable_serialization_as_tensor_content",
        _DEFAULTS.tensor_content,
        "gRPC outputs packed in tensor_content instead of typed *_val fields",
    )
    behaviour.add_argument(
        "--monitoring_config_file",
        help="TF Serving MonitoringConfig text proto (Prometheus on/off and path); without "
        "it metrics are at /monitoring/prometheus/metrics",
    )
    behaviour.add_argument(
        "--saved_model_tags",
        default=",".join(_DEFAULTS.saved_model_tags),
        help="comma-separated tags of the SavedModel meta graph to load",
    )
    behaviour.add_argument(
        "--tensorflow_session_parallelism",
        type=int,
        default=0,
        help="threads for both TensorFlow pools unless the two flags below set them (0: auto)",
    )
    behaviour.add_argument(
        "--tf-intra-op-threads",
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=_DEFAULTS.intra_op_threads,
        help="TensorFlow intra-op threads (0: TensorFlow's choice)",
    )
    behaviour.add_argument(
        "--tf-inter-op-threads",
        "--tensorflow_inter_op_parallelism",
        type=int,
        default=_DEFAULTS.inter_op_threads,
        help="TensorFlow inter-op threads (0: TensorFlow's choice)",
    )


def _add_batching_arguments(serve: argparse.ArgumentParser) -> None:
    """Server-side batching, as TF Serving configures it."""
    batching = serve.add_argument_group("server-side batching")
    _bool_flag(batching, "--batching", False, "merge concurrent requests into one call", "batching")
    _bool_flag(batching, "--enable_batching", False, "same as --batching", "batching")
    batching.add_argument(
        "--batching_parameters_file",
        help="TF Serving BatchingParameters text proto (needs --enable_batching); "
        "wins over the three flags below",
    )
    batching.add_argument(
        "--max-batch-size", type=int, default=32, help="most rows in one batched call"
    )
    batching.add_argument(
        "--batch-timeout-ms", type=float, default=2.0, help="longest wait for a batch to fill"
    )
    batching.add_argument(
        "--batch-threads", type=int, default=2, help="threads running batched calls"
    )


def _add_deploy_arguments(serve: argparse.ArgumentParser) -> None:
    """Writing the config for the real tensorflow/serving instead of serving."""
    deploy = serve.add_argument_group("production (real tensorflow/serving); no server is started")
    deploy.add_argument(
        "--write-config",
        metavar="FILE",
        help="write a TF Serving models.config for --model-base, print a docker run line, exit",
    )
    deploy.add_argument(
        "--container-base", default="/models", help="with --write-config: base in the container"
    )
    deploy.add_argument(
        "--num-versions",
        type=int,
        default=1,
        help="with --write-config: latest N versions the written config serves",
    )


def server_options(args: argparse.Namespace) -> ServerOptions:
    """The `start_server` options from parsed flags, built once; ValueError names a bad flag."""
    # Imported here so that building the parser (`vrl --help`) stays fast.
    from serving.tfs_config import batching_options_from_file, prometheus_path_from_file

    check_tfs_arguments(args)
    if args.model_base and args.model_base_path:
        raise ValueError("pass --model-base (many models) or --model_base_path (one), not both")
    if not (args.model_base or args.model_base_path or args.model_config):
        raise ValueError("pass --model_base_path DIR, --model-base DIR or --model_config_file FILE")
    if args.batching_parameters_file and not args.batching:
        raise ValueError("--batching_parameters_file is set without --enable_batching")
    batching = None
    if args.batching:
        if args.batching_parameters_file:
            batching = batching_options_from_file(args.batching_parameters_file)
        else:
            from serving.batching import BatchingOptions  # (--help speed, as above)

            batching = BatchingOptions(
                args.max_batch_size, args.batch_timeout_ms / 1000.0, args.batch_threads
            )
    grpc_port = args.grpc_port if args.port is None else (args.port or None)
    rest_port = args.rest_port if args.rest_api_port is None else (args.rest_api_port or None)
    if grpc_port is None and rest_port is None:
        raise ValueError("both gRPC and REST are disabled; set --port or --rest_api_port")
    intra, inter = session_parallelism(args)
    if args.rest_api_timeout_in_ms <= 0:
        raise ValueError(f"--rest_api_timeout_in_ms must be > 0, got {args.rest_api_timeout_in_ms}")
    tags = tuple(t.strip() for t in args.saved_model_tags.split(",") if t.strip())
    if not tags:
        raise ValueError("--saved_model_tags is empty; the SavedModel's serving tag is 'serve'")
    for flag, value in (
        ("--file_system_poll_wait_seconds", args.poll_seconds),
        ("--model_config_file_poll_wait_seconds", args.model_config_file_poll_wait_seconds),
    ):
        if value < 0:
            raise ValueError(f"{flag} {value}: negative values are for TF Serving's own tests")
    limits, connections = limits_from_args(args)
    max_bytes = min(int(args.max_request_mb * 1024 * 1024), MAX_MESSAGE_BYTES)
    extra = channel_arguments(args.grpc_channel_arguments)
    for key, value in extra:
        if key == "grpc.max_receive_message_length" and isinstance(value, int):
            max_bytes = value
    return ServerOptions(
        model_base=args.model_base_path or args.model_base,
        model_name=args.model_name if args.model_base_path else None,
        model_config=args.model_config,
        grpc_port=grpc_port,
        rest_port=rest_port,
        host=args.host,
        poll_seconds=args.poll_seconds,
        config_poll_seconds=args.model_config_file_poll_wait_seconds,
        batching=batching,
        max_request_bytes=max_bytes,
        grpc_workers=args.grpc_workers,
        grpc_options=tuple(kv for kv in extra if kv[0] != "grpc.max_receive_message_length"),
        rest_threads=args.rest_api_num_threads,
        intra_op_threads=intra,
        inter_op_threads=inter,
        rest_timeout_s=args.rest_api_timeout_in_ms / 1000.0,
        grpc_health=args.enable_grpc_healthcheck_service,
        admin_rpc=not args.disable_admin_rpc,
        saved_model_tags=tags,
        allow_labels_for_unavailable=args.allow_version_labels_for_unavailable_models,
        method_name_check=args.enable_signature_method_name_check,
        tensor_content=args.enable_serialization_as_tensor_content,
        metrics_path=prometheus_path_from_file(args.monitoring_config_file),
        warmup=args.enable_model_warmup,
        warmup_iterations=args.num_request_iterations_for_warmup,
        require_loaded=True,
        limits=limits,
        connections=connections,
        request_log_limits=request_log_limits_from_args(args),
    )
