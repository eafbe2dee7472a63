"""What one `start_server` call is told: every server setting in one frozen dataclass.

`vrl serve` builds a `ServerOptions` once from the parsed TF Serving flags
(serving/flags.py: `server_options`); tests and bench scripts build one directly
with the fields they need. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from contracts.serving_base import SERVE_TAGS
from serving.limits import ConnectionLimits, RequestLimits
from serving.metrics import DEFAULT_PATH
from serving.request_log_limits import RequestLogLimits

if TYPE_CHECKING:
    from serving.batching import BatchingOptions

MAX_MESSAGE_BYTES = 2**31 - 1
"""TF Serving: builder.SetMaxMessageSize(std::numeric_limits<int32_t>::max())."""


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """One server's settings; the defaults are the programmatic ones (`vrl serve`'s flags
    pick their own for ports and thread counts, and require a loaded model)."""

    model_base: str | None = None
    """Serve every model folder under this base path; with `model_name`, this is that one
    model's folder (TF Serving's --model_base_path)."""
    model_config: str | None = None
    """Or a text-proto ModelServerConfig file (wins over `model_base`)."""
    model_name: str | None = None
    """Single-model mode: the name `model_base` is served under (TF Serving's --model_name)."""
    grpc_port: int | None = 8500
    """gRPC port; 0 picks a free port, None disables gRPC."""
    rest_port: int | None = 8501
    """REST port; 0 picks a free port, None disables REST."""
    host: str = "127.0.0.1"
    """Interface both front ends bind (loopback by default)."""
    poll_seconds: float = 2.0
    """How often base paths are checked for new versions (0: once at start)."""
    config_poll_seconds: float = 0.0
    """Re-read `model_config` this often, models and logging_config alike (0: never)."""
    batching: BatchingOptions | None = None
    """Server-side batching (None: every request runs on its own)."""
    max_request_bytes: int = MAX_MESSAGE_BYTES
    """Largest gRPC message / REST body accepted."""
    grpc_workers: int = 32
    """gRPC handler threads (bounds concurrent requests)."""
    grpc_options: tuple[tuple[str, int | str], ...] = ()
    """Further gRPC server arguments (--grpc_channel_arguments)."""
    rest_threads: int | None = None
    """Most REST requests handled at once (None: unbounded)."""
    rest_timeout_s: float = 30.0
    """--rest_api_timeout_in_ms: deadline of a REST model call, in seconds."""
    grpc_health: bool = False
    """--enable_grpc_healthcheck_service: serve grpc.health.v1.Health."""
    admin_rpc: bool = True
    """ModelService/HandleReloadConfigRequest answers (as in TF Serving, from anyone who
    reaches the gRPC port); False refuses it with PERMISSION_DENIED, and the served
    models change only through the model config file (`config_poll_seconds`)."""
    intra_op_threads: int = 0
    """TensorFlow intra-op pool (--tensorflow_intra_op_parallelism; 0: TensorFlow's choice;
    only effective before TensorFlow first runs an op in this process)."""
    inter_op_threads: int = 0
    """TensorFlow inter-op pool (--tensorflow_inter_op_parallelism; 0: TensorFlow's choice)."""
    saved_model_tags: tuple[str, ...] = SERVE_TAGS
    """--saved_model_tags: the meta graph loaded from each SavedModel."""
    allow_labels_for_unavailable: bool = False
    """--allow_version_labels_for_unavailable_models."""
    method_name_check: bool = False
    """--enable_signature_method_name_check: Classify/Regress need the method name."""
    tensor_content: bool = False
    """--enable_serialization_as_tensor_content: gRPC outputs packed in tensor_content."""
    metrics_path: str | None = DEFAULT_PATH
    """URL path of the Prometheus page (None: not published)."""
    warmup: bool = True
    """Replay assets.extra/tf_serving_warmup_requests before a version is served."""
    warmup_iterations: int = 1
    """Times each warmup request runs (--num_request_iterations_for_warmup)."""
    require_loaded: bool = False
    """Refuse to start unless every model has a loaded version."""
    limits: RequestLimits = dataclasses.field(default_factory=RequestLimits)
    """Caps on one request (elements, rows, decoded bytes, JSON depth, images)."""
    connections: ConnectionLimits = dataclasses.field(default_factory=ConnectionLimits)
    """Connection caps and timeouts of both front ends."""
    request_log_limits: RequestLogLimits = dataclasses.field(default_factory=RequestLogLimits)
    """Queue, file and folder bounds of the models' logging_config request logs."""
