"""tensorflow_model_server flags that `vrl serve` takes without serving them itself.

A Kubernetes manifest written for the real `tensorflow/serving` image carries more
flags than a local stand-in needs. Each of TF Serving's flags (main.cc's flag
list) is one of three kinds here:

- honoured: defined in serving/flags.py with TF Serving's meaning;
- a no-op (below): accepted, with one warning naming why it changes nothing in
  one local process;
- refused (below): the server does not start, and one line names why.

A flag in neither table is an unknown argument. The parsers of two honoured flags
whose TF Serving semantics need more than a type live here too. Importing this
module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def tfs_bool(text: str) -> bool:
    """A TF Serving boolean flag value: true/false/1/0."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@dataclasses.dataclass(frozen=True)
class TfsFlag:
    """One TF Serving flag `vrl serve` accepts but does not act on."""

    name: str
    """TF Serving's spelling, without the dashes."""
    kind: Callable[[str], object]
    """Parser of its value (the value is still checked, as TF Serving checks it)."""
    why: str
    """Why it is a no-op here, or why it is refused."""


_NOOP = (
    TfsFlag(
        "flush_filesystem_caches",
        tfs_bool,
        "a memory hint for a server with many models; the stand-in reads each version once",
    ),
    TfsFlag("num_load_threads", int, "versions load one at a time on the watcher thread"),
    TfsFlag("num_unload_threads", int, "old versions are released on the watcher thread"),
    TfsFlag(
        "max_num_load_retries",
        int,
        "a version that fails to load is retried at the next file-system poll",
    ),
    TfsFlag(
        "load_retry_interval_micros",
        int,
        "a version that fails to load is retried at the next file-system poll",
    ),
    TfsFlag(
        "per_process_gpu_memory_fraction",
        float,
        "TensorFlow's own GPU memory growth applies; the stand-in sets no fraction",
    ),
    TfsFlag("enable_profiler", tfs_bool, "no TensorFlow profiler service is started"),
    TfsFlag(
        "remove_unused_fields_from_bundle_metagraph",
        tfs_bool,
        "a memory saving of the C++ loader; the Python loader keeps its own copy",
    ),
    TfsFlag("skip_initialize_tpu", tfs_bool, "the stand-in never initialises a TPU"),
    TfsFlag("xla_cpu_compilation_enabled", tfs_bool, "XLA is as the SavedModel asks"),
    TfsFlag("xla_gpu_compilation_enabled", tfs_bool, "XLA is as the SavedModel asks"),
)

_REFUSED = (
    TfsFlag(
        "workers",
        str,
        "vrl serve is one process (the local and CI stand-in); scale and "
        "availability come from tensorflow/serving replicas (see serving/k8s)",
    ),
    TfsFlag("grpc_socket_path", str, "gRPC is served on --port only, not on a UNIX socket"),
    TfsFlag(
        "use_alts_credentials",
        tfs_bool,
        "the stand-in serves plaintext gRPC; use tensorflow/serving for ALTS or TLS",
    ),
    TfsFlag(
        "ssl_config_file",
        str,
        "the stand-in serves plaintext gRPC; use tensorflow/serving for ALTS or TLS",
    ),
    TfsFlag("rest_api_enable_cors_support", tfs_bool, "the REST API sends no CORS headers"),
    TfsFlag(
        "enable_per_model_batching_parameters",
        tfs_bool,
        "batching_params.pbtxt inside a SavedModel is not read; use --batching_parameters_file",
    ),
    TfsFlag("platform_config_file", str, "only the TensorFlow SavedModel platform is served"),
    TfsFlag(
        "tensorflow_session_config_file",
        str,
        "no session ConfigProto is read; use the --tensorflow_*_parallelism flags",
    ),
    TfsFlag("prefer_tflite_model", tfs_bool, "TensorFlow Lite models are not served"),
    TfsFlag("num_tflite_pools", int, "TensorFlow Lite models are not served"),
    TfsFlag("num_tflite_interpreters_per_pool", int, "TensorFlow Lite models are not served"),
    TfsFlag("thread_pool_factory_config_file", str, "no custom thread pool factory is read"),
    TfsFlag("mixed_precision", str, "models run in the precision they were saved with"),
    TfsFlag("version", tfs_bool, "vrl serve has no tensorflow_model_server version to print"),
)


def _dest(flag: TfsFlag) -> str:
    return f"tfs_{flag.name}"


def add_tfs_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds TF Serving's no-op and refused flags (help lists them, one group each)."""
    for title, flags, unset in (
        ("TF Serving flags accepted as no-ops (one warning each)", _NOOP, "not given: no warning"),
        ("TF Serving flags refused (the server does not start)", _REFUSED, "not given: starts"),
    ):
        group = parser.add_argument_group(title)
        for flag in flags:
            group.add_argument(
                f"--{flag.name}",
                dest=_dest(flag),
                type=flag.kind,
                nargs="?",
                # Present without a value: True for a boolean, "" (still "given") otherwise.
                const=True if flag.kind is tfs_bool else "",
                default=None,
                metavar="VALUE",
                help=f"{flag.why} (default: {unset})",
            )


def check_tfs_arguments(args: argparse.Namespace) -> None:
    """Raises ValueError naming the first refused flag given; warns once per no-op flag."""
    for flag in _REFUSED:
        if getattr(args, _dest(flag)) is not None:
            raise ValueError(f"--{flag.name} refused: {flag.why}")
    for flag in _NOOP:
        if getattr(args, _dest(flag)) is not None:
            log.warning("--%s has no effect in vrl serve: %s", flag.name, flag.why)


def channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """TF Serving's --grpc_channel_arguments: "k=v,k=v"; integer values become ints."""
    out: list[tuple[str, int | str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--grpc_channel_arguments: {item!r} is not key=value")
        out.append((key, int(value) if value.lstrip("-").isdigit() else value))
    return out


def session_parallelism(args: argparse.Namespace) -> tuple[int, int]:
    """(intra, inter) op threads as TF Serving's server.cc derives them from its three flags."""
    intra, inter, both = (
        args.tf_intra_op_threads,
        args.tf_inter_op_threads,
        args.tensorflow_session_parallelism,
    )
    if intra > 0 and inter > 0 and both > 0:
        raise ValueError(
            "Either configure --tensorflow_session_parallelism or "
            "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all."
        )
    if intra > 0 or inter > 0:
        return intra, inter
    return both, both
