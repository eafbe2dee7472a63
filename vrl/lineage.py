"""`vrl lineage`: a pushed version traced back to its input span through ML Metadata.

Reads a local run's SQLite store (`--home`) or any store a connection config
file names (`--metadata-config`: a text-proto `ConnectionConfig` for SQLite or
MySQL, or a `MetadataStoreClientConfig` for the MLMD gRPC service).
"""

from __future__ import annotations

import argparse
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
_SHOWN = (
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
    "served_present",
    "served_version",
    "num_errors",
    "num_warnings",
    "env_steps",
    "best_eval_mean_return",
)
# Execution properties that locate the input files.
_INPUT_PROPS = ("input_base", "input_config", "range_config", "env_id", "num_env_steps", "seed")


def add_parser(sub: argparse._SubParsersAction, formatter) -> None:
    """Registers `vrl lineage`."""
    p = sub.add_parser(
        "lineage",
        help="trace a pushed version back to its input span through ML Metadata",
        formatter_class=formatter,
    )
    p.add_argument("target", metavar="MODEL[:VERSION]", help="model name, optionally :version")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--home", default="runs", help="a `vrl run --home` folder (SQLite stores)")
    where.add_argument(
        "--metadata-config",
        default=None,
        help="text-proto ConnectionConfig (sqlite/mysql) or MetadataStoreClientConfig (gRPC)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_lineage)


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


def find_pushed(store, model: str, version: int | None):
    """The PushedModel artifact of `model` (at `version`, else the newest push), or None."""
    pushed = []
    for artifact in store.get_artifacts_by_type("PushedModel"):
        p = props(artifact)
        destination = str(p.get("pushed_destination", "")).rstrip("/")
        if not p.get("pushed") or os.path.basename(os.path.dirname(destination)) != model:
            continue
        if version is None or str(p.get("pushed_version")) == str(version):
            pushed.append(artifact)
    return max(pushed, key=lambda a: (a.create_time_since_epoch, a.id)) if pushed else None


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
                            "properties": props(a, _SHOWN),
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
                        "properties": props(a, _SHOWN),
                    }
                    for a in (store.get_artifacts_by_id(ids) if ids else [])
                ],
            }
        )
    return out


def lineage(target: str, home: str = "runs", metadata_config: str | None = None) -> dict:
    """{model, version, store, pushed, steps} for `MODEL[:VERSION]`."""
    model, _, version_text = target.partition(":")
    version = int(version_text) if version_text else None
    stores = (
        [("config", metadata_config)]
        if metadata_config
        else [("sqlite", p) for p in local_stores(home)]
    )
    if not stores:
        raise FileNotFoundError(
            f"{home}: no ML Metadata store under tfx/*/metadata.sqlite; pass --home or "
            "--metadata-config"
        )
    for kind, where in stores:
        if kind == "config":
            store = connect(where)
        else:
            from vrl.results import open_store

            store = open_store(where)
        pushed = find_pushed(store, model, version)
        if pushed is not None:
            p = props(pushed)
            return {
                "model": model,
                "version": int(p["pushed_version"]),
                "store": where,
                "pushed": {"uri": pushed.uri, **props(pushed, _SHOWN)},
                "steps": trace(store, pushed),
            }
    wanted = f"{model} version {version}" if version else model
    raise ValueError(f"no push of {wanted} in {[w for _, w in stores]}")


def render(result: dict) -> str:
    """Text form: one block per execution, nearest to the push first."""
    lines = [
        f"{result['model']}:{result['version']}  pushed to "
        f"{result['pushed'].get('pushed_destination')}  (store {result['store']})"
    ]
    for step in result["steps"]:
        lines.append(f"  <- {step['node']}  #{step['execution_id']} {step['state']} {step['time']}")
        for name, value in step["properties"].items():
            lines.append(f"       {name}: {value}")
        for a in step["inputs"]:
            shown = ", ".join(f"{k}={v}" for k, v in a["properties"].items())
            lines.append(f"       in {a['type']} #{a['id']}{': ' + shown if shown else ''}")
        for a in step.get("outputs", []):
            shown = ", ".join(f"{k}={v}" for k, v in a["properties"].items())
            lines.append(f"       out {a['type']} #{a['id']}{': ' + shown if shown else ''}")
    return "\n".join(lines)


def _cmd_lineage(args: argparse.Namespace) -> int:
    result = lineage(args.target, args.home, args.metadata_config)
    print(json.dumps(result, indent=2, default=str) if args.json else render(result))
    return 0
