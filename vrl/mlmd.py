"""Reading ML Metadata: stores, properties as plain values, and the executions
upstream of an artifact (what `vrl lineage`, `status` and `report` are built on).

Reads a local run's SQLite store or any store a connection config file names
(a text-proto `ConnectionConfig` for SQLite or MySQL, or a
`MetadataStoreClientConfig` for the MLMD gRPC service).
"""

from __future__ import annotations

import datetime
import glob
import json
import os

_STATES = {
    0: "UNKNOWN",
    1: "NEW",
    2: "RUNNING",
    3: "COMPLETE",
    4: "FAILED",
    5: "CACHED",
    6: "CANCELED",
}
OUTPUT_EVENTS = (4, 6)  # DECLARED_OUTPUT, OUTPUT
_INPUT_EVENTS = (3, 2)  # INPUT, DECLARED_INPUT
# Artifact properties worth a line: what identifies data, a decision or a push.
SHOWN = (
    "span",
    "version",
    "input_fingerprint",
    "files_seen",
    "examples_written",
    "quarantined",
    "blessed",
    "mean_return",
    "pushed",
    "pushed_version",
    "pushed_destination",
    "already_served",
    "served_present",
    "served_version",
    "num_errors",
    "num_warnings",
    "env_steps",
    "best_eval_mean_return",
)
# Execution properties that locate the input files.
_INPUT_PROPS = ("input_base", "input_config", "range_config", "env_id", "num_env_steps", "seed")


def connect(metadata_config: str):
    """A MetadataStore from a connection config file (ConnectionConfig or client config)."""
    import ml_metadata as mlmd
    from google.protobuf import text_format
    from ml_metadata.proto import metadata_store_pb2

    with open(metadata_config, encoding="utf-8") as f:
        text = f.read()
    for proto in (
        metadata_store_pb2.ConnectionConfig,
        metadata_store_pb2.MetadataStoreClientConfig,
    ):
        config = proto()
        try:
            text_format.Parse(text, config)
        except text_format.ParseError:
            continue
        return mlmd.MetadataStore(config)
    raise ValueError(
        f"{metadata_config}: neither a text-proto ConnectionConfig (sqlite {{...}} / mysql {{...}}) "
        "nor a MetadataStoreClientConfig (host, port)"
    )


def open_store(metadata_path: str):
    """Read-only ML Metadata store over a local SQLite file."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(cfg)


def local_stores(home: str) -> list[str]:
    """SQLite stores of every pipeline run under a `vrl run --home` folder."""
    return sorted(glob.glob(os.path.join(home, "tfx", "*", "metadata.sqlite")))


def props(artifact_or_execution, names=None) -> dict:
    """Properties and custom properties as plain values (optionally only `names`).

    Kubeflow records artifact metadata as struct values; TFX wraps a scalar
    in a struct as {"__value__": x}, and numbers in structs are doubles.
    """
    from google.protobuf import json_format

    out = {}
    for source in (artifact_or_execution.properties, artifact_or_execution.custom_properties):
        for name, value in source.items():
            if names and name not in names:
                continue
            kind = value.WhichOneof("value")
            if kind in ("int_value", "double_value", "string_value"):
                out[name] = getattr(value, kind)
            elif kind == "struct_value":
                decoded = json_format.MessageToDict(value.struct_value)
                decoded = decoded.get("__value__", decoded)
                if isinstance(decoded, float) and decoded.is_integer():
                    decoded = int(decoded)
                out[name] = decoded
    return dict(sorted(out.items()))


def _compact(value):
    """One-line form of a JSON-valued property (TFX stores protos as indented JSON)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.dumps(json.loads(value), separators=(",", ":"))
        except json.JSONDecodeError:
            return value
    return value


def time_text(ms: int) -> str:
    when = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(store, execution) -> str:
    """The pipeline node id (TFX's "node" context is named `<pipeline>.<node id>`)."""
    node_type = store.get_context_type("node").id
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id == node_type:
            return context.name.split(".", 1)[-1]
    return str(execution.type_id)


def trace(store, artifact) -> list[dict]:
    """Executions upstream of `artifact`, nearest first, each with its input artifacts."""
    artifact_types = {t.id: t.name for t in store.get_artifact_types()}
    steps, seen, frontier = [], set(), [artifact.id]
    while frontier:
        # A cached execution re-publishes the artifacts of the one that made
        # them: follow each artifact to its first (original) producer.
        first: dict[int, int] = {}
        for e in store.get_events_by_artifact_ids(frontier):
            if e.type in OUTPUT_EVENTS:
                first[e.artifact_id] = min(first.get(e.artifact_id, e.execution_id), e.execution_id)
        producers = set(first.values()) - seen
        frontier = []
        for execution in sorted(
            store.get_executions_by_id(list(producers)), key=lambda e: -e.create_time_since_epoch
        ):
            seen.add(execution.id)
            inputs = [
                e.artifact_id
                for e in store.get_events_by_execution_ids([execution.id])
                if e.type in _INPUT_EVENTS
            ]
            input_artifacts = store.get_artifacts_by_id(inputs) if inputs else []
            steps.append(
                {
                    "node": _node(store, execution),
                    "execution_id": execution.id,
                    "state": _STATES.get(execution.last_known_state, "?"),
                    "time": time_text(execution.last_update_time_since_epoch),
                    "properties": {
                        k: _compact(v) for k, v in props(execution, _INPUT_PROPS).items()
                    },
                    "inputs": [
                        {
                            "type": artifact_types.get(a.type_id, "?"),
                            "id": a.id,
                            "uri": a.uri,
                            "properties": props(a, SHOWN),
                        }
                        for a in input_artifacts
                    ],
                }
            )
            frontier.extend(inputs)
    steps.extend(_checks(store, steps, artifact_types))
    return steps


_CHECK_NODES = ("ExampleValidator", "ImageChecks")


def _checks(store, steps: list[dict], artifact_types: dict) -> list[dict]:
    """The data checks that read the traced artifacts (they gate the Trainer by
    order, not by an artifact, so the upstream walk does not reach them)."""
    traced = sorted({a["id"] for step in steps for a in step["inputs"]})
    consumers: dict[str, int] = {}
    for e in store.get_events_by_artifact_ids(traced):
        if e.type in _INPUT_EVENTS:
            execution = store.get_executions_by_id([e.execution_id])[0]
            node = _node(store, execution)
            if node in _CHECK_NODES:
                consumers[node] = min(consumers.get(node, e.execution_id), e.execution_id)
    out = []
    for node, execution_id in sorted(consumers.items()):
        execution = store.get_executions_by_id([execution_id])[0]
        events = store.get_events_by_execution_ids([execution_id])
        ids = [e.artifact_id for e in events if e.type in OUTPUT_EVENTS]
        out.append(
            {
                "node": node,
                "execution_id": execution_id,
                "state": _STATES.get(execution.last_known_state, "?"),
                "time": time_text(execution.last_update_time_since_epoch),
                "properties": {},
                "inputs": [],
                "outputs": [
                    {
                        "type": artifact_types.get(a.type_id, "?"),
                        "id": a.id,
                        "uri": a.uri,
                        "properties": props(a, SHOWN),
                    }
                    for a in (store.get_artifacts_by_id(ids) if ids else [])
                ],
            }
        )
    return out
