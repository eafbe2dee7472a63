"""`vrl status`, `label`, `rollback`, `lineage`, `report`: operating pushed models.

Only argparse is imported at start-up; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import os

from vrl.help_format import DefaultsFormatter

DEFAULT_SERVING_BASE = os.path.join("runs", "serving")
DEFAULT_HOME = "runs"
DEFAULT_CONFIG = os.path.join("runs", "serving", "models.config")
_FORMAT = DefaultsFormatter


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Registers status, label, rollback, lineage and report."""
    status = sub.add_parser(
        "status",
        help="models and versions on disk, which one is served, and their provenance",
        formatter_class=_FORMAT,
    )
    status.add_argument(
        "--serving-base", default=DEFAULT_SERVING_BASE, help="TF Serving model base"
    )
    status.add_argument(
        "--server",
        default=None,
        help="host:port of a TF Serving gRPC endpoint to ask what it serves",
    )
    status.add_argument(
        "--home", default=None, help="a `vrl run --home` folder: also show each pipeline's last run"
    )
    status.add_argument(
        "--model-config", default=None, help="TF Serving model config file: show version labels"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_cmd_status)

    for name, helptext in (
        ("label", "point a version label (stable, canary, ...) at a version"),
        ("rollback", "move the `stable` label back (undo the last label change, or --to VERSION)"),
    ):
        p = sub.add_parser(name, help=helptext, formatter_class=_FORMAT)
        p.add_argument("model", help="model name in the config")
        if name == "label":
            p.add_argument("version", type=int, help="version to label")
            p.add_argument("label", help="label name: stable, canary or any other")
        else:
            p.add_argument(
                "--to",
                type=int,
                default=None,
                help="version to make stable (default: the labels before the last change, "
                "else the newest version below the stable one)",
            )
        p.add_argument(
            "--model-config",
            default=DEFAULT_CONFIG,
            help="TF Serving model config file to edit (`vrl serve --write-config` writes one)",
        )
        p.add_argument(
            "--server", default=None, help="host:port of a running server to reload (gRPC)"
        )
        p.add_argument(
            "--timeout", type=float, default=60.0, help="seconds to wait for a version to load"
        )
        p.set_defaults(func=_cmd_label if name == "label" else _cmd_rollback)

    from vrl import lineage, report

    lineage.add_parser(sub, _FORMAT)
    report.add_parser(sub, _FORMAT)


# --------------------------------------------------------------------------- status


def _labels(model_config: str | None) -> dict[str, dict[int, list[str]]]:
    """{model: {version: [labels]}} from a model config file (empty without one)."""
    if not model_config:
        return {}
    from vrl.labels import read_config

    out: dict[str, dict[int, list[str]]] = {}
    for entry in read_config(model_config).model_config_list.config:
        for label, version in sorted(entry.version_labels.items()):
            out.setdefault(entry.name, {}).setdefault(version, []).append(label)
    return out


def model_status(
    serving_base: str, server: str | None = None, model_config: str | None = None
) -> list[dict]:
    """Per model under `serving_base`: complete versions with provenance, served
    state (with `server`) and labels (with `model_config`)."""
    from components.atomic_pusher.provenance import read_provenance, summary_line
    from contracts.serving_base import complete_versions

    if not os.path.isdir(serving_base):
        raise FileNotFoundError(
            f"{serving_base}: no such serving base; pass --serving-base (a `vrl run` writes "
            "<home>/serving)"
        )
    labels = _labels(model_config)
    models = []
    for name in sorted(os.listdir(serving_base)):
        model_dir = os.path.join(serving_base, name)
        if name.startswith(".") or not os.path.isdir(model_dir):
            continue
        served = served_versions(server, name) if server else None
        versions = []
        for version in complete_versions(model_dir):
            record = read_provenance(os.path.join(model_dir, str(version)))
            versions.append(
                {
                    "version": version,
                    "state": (served or {}).get(version) if server else None,
                    "labels": labels.get(name, {}).get(version, []),
                    "summary": summary_line(record),
                    "provenance": record,
                }
            )
        models.append({"model": name, "path": model_dir, "versions": versions})
    return models


def served_versions(server: str, model: str, timeout: float = 10.0) -> dict[int, str]:
    """{version: state} from TF Serving's GetModelStatus; {} when the model is unknown."""
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    with grpc.insecure_channel(server) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            response = stub.GetModelStatus(request, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return {}
            raise OSError(f"{server}: GetModelStatus({model}) failed: {e.details()}") from e
    states = get_model_status_pb2.ModelVersionStatus.State
    return {s.version: states.Name(s.state) for s in response.model_version_status}


def _cmd_status(args: argparse.Namespace) -> int:
    models = model_status(args.serving_base, args.server, args.model_config)
    runs = []
    if args.home:
        runs = last_runs(args.home)
    if args.json:
        print(json.dumps({"models": models, "last_runs": runs}, indent=2, default=str))
        return 0
    if not models:
        print(f"{args.serving_base}: no models pushed yet")
    for model in models:
        print(f"{model['model']}  ({model['path']})")
        if not model["versions"]:
            print("  no complete versions")
        for v in model["versions"]:
            state = f"  [{v['state'] or 'not loaded'}]" if args.server else ""
            tags = f"  ({', '.join(v['labels'])})" if v["labels"] else ""
            print(f"  {v['version']}{state}{tags}  {v['summary']}")
    for run in runs:
        print(f"last run of {run['pipeline']}: {run['line']}")
    return 0


# ------------------------------------------------------------------- label / rollback


def _cmd_label(args: argparse.Namespace) -> int:
    from vrl import labels

    change = labels.set_label(
        args.model_config, args.model, args.label, args.version, args.server, args.timeout
    )
    print(change)
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from vrl import labels

    change = labels.rollback(args.model_config, args.model, args.to, args.server, args.timeout)
    print(change)
    return 0


def last_runs(home: str) -> list[dict]:
    """Per local pipeline store: the newest Pusher outcome with the blessing's reason."""
    from vrl.lineage import local_stores, props, time_text, trace
    from vrl.results import open_store

    runs = []
    for path in local_stores(home):
        store = open_store(path)
        pushes = store.get_artifacts_by_type("PushedModel")
        if not pushes:
            continue
        newest = max(pushes, key=lambda a: (a.create_time_since_epoch, a.id))
        p = props(newest)
        blessing = [a for s in trace(store, newest)[:1] for a in s["inputs"]]
        blessing = [a for a in blessing if a["type"] == "ModelBlessing"]
        reason = _not_blessed_reason(store, blessing[0]["id"]) if blessing else None
        pipeline = os.path.basename(os.path.dirname(path))
        if p.get("pushed"):
            line = f"pushed version {p.get('pushed_version')}"
        else:
            line = "not pushed; the served model is unchanged" + (f" ({reason})" if reason else "")
        when = time_text(newest.create_time_since_epoch)
        runs.append(
            {
                "pipeline": pipeline,
                "pushed": bool(p.get("pushed")),
                "time": when,
                "reason": reason,
                "line": f"{when} {line}",
            }
        )
    return runs


def _not_blessed_reason(store, blessing_id: int) -> str | None:
    """Why a blessing is negative: the PolicyEvaluator's NOT_BLESSED text or TFMA's failures."""
    from vrl.lineage import OUTPUT_EVENTS, props

    blessing = store.get_artifacts_by_id([blessing_id])[0]
    if props(blessing).get("blessed"):
        return None
    note = os.path.join(blessing.uri, "NOT_BLESSED")
    if os.path.isfile(note):
        with open(note, encoding="utf-8") as f:
            text = f.read().strip()
        if text:
            return text
    events = store.get_events_by_artifact_ids([blessing_id])
    producer = [e.execution_id for e in events if e.type in OUTPUT_EVENTS]
    outputs = store.get_events_by_execution_ids(producer)
    ids = [e.artifact_id for e in outputs if e.type in OUTPUT_EVENTS]
    for artifact in store.get_artifacts_by_id(ids):
        if os.path.isfile(os.path.join(artifact.uri, "validations.tfrecord")):
            import logging

            from components.atomic_pusher.gather import tfma_failures

            # TFMA's reader warns about a deprecated TF API on every call.
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
            failures = sorted(tfma_failures(artifact.uri), key=lambda f: not f.endswith("overall"))
            if failures:
                more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
                return "failed: " + "; ".join(failures[:3]) + more
    return "not blessed"
