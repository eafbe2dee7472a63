"""`vrl status`, `label`, `rollback`, `lineage`, `report`: operating pushed models.

Only argparse and the command modules (which import their libraries inside their
functions) are imported at start-up, so `vrl --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os

from contracts.model_config import MODEL_CONFIG_FILE
from vrl import labels, mlmd, runs
from vrl.help_format import DefaultsFormatter
from vrl.runs import SERVING_DIR

DEFAULT_HOME = "runs"
DEFAULT_SERVING_BASE = os.path.join(DEFAULT_HOME, SERVING_DIR)
DEFAULT_CONFIG = os.path.join(DEFAULT_SERVING_BASE, MODEL_CONFIG_FILE)
_FORMAT = DefaultsFormatter


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Registers status, label, rollback, lineage and report."""
    status = sub.add_parser(
        "status",
        help="models and versions on disk, which one is served, and their provenance",
        formatter_class=_FORMAT,
    )
    status.add_argument(
        "--serving-base",
        default=None,
        help=f"TF Serving model base (default: <home>/{SERVING_DIR})",
    )
    status.add_argument(
        "--server",
        default=None,
        help="host:port of a TF Serving gRPC endpoint to ask what it serves",
    )
    status.add_argument(
        "--home",
        default=DEFAULT_HOME,
        help="a `vrl run --home` folder: its serving base, and each pipeline's last run "
        "with why it pushed or did not",
    )
    status.add_argument(
        "--model-config",
        default=None,
        help=f"TF Serving model config file: show version labels (default: "
        f"<serving base>/{MODEL_CONFIG_FILE} when it exists)",
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
    out: dict[str, dict[int, list[str]]] = {}
    for entry in labels.read_config(model_config).model_config_list.config:
        for label, version in sorted(entry.version_labels.items()):
            out.setdefault(entry.name, {}).setdefault(version, []).append(label)
    return out


def model_config_beside(serving_base: str) -> str | None:
    """`<serving_base>/models.config` when it exists (where `vrl label` keeps it)."""
    path = os.path.join(serving_base, MODEL_CONFIG_FILE)
    return path if os.path.isfile(path) else None


def model_status(
    serving_base: str, server: str | None = None, model_config: str | None = None
) -> list[dict]:
    """Per model under `serving_base`: complete versions with provenance, served
    state (with `server`) and labels (with `model_config`, else the config file
    beside the models), and what pushes left unfinished (`unfinished`: name and
    why). An absent serving base has no models yet."""
    from components.atomic_pusher.provenance import read_provenance, summary_line
    from contracts.serving_base import complete_versions, unfinished_entries

    if not os.path.isdir(serving_base):
        return []
    tags = _labels(model_config or model_config_beside(serving_base))
    models = []
    for name in sorted(os.listdir(serving_base)):
        model_dir = os.path.join(serving_base, name)
        if name.startswith(".") or not os.path.isdir(model_dir):
            continue
        served = labels.served_versions(server, name) if server else None
        versions = []
        for version in complete_versions(model_dir):
            record = read_provenance(os.path.join(model_dir, str(version)))
            versions.append(
                {
                    "version": version,
                    "state": (served or {}).get(version) if server else None,
                    "labels": tags.get(name, {}).get(version, []),
                    "summary": summary_line(record),
                    "thresholds": ((record or {}).get("evaluation") or {}).get("thresholds"),
                    "provenance": record,
                }
            )
        unfinished = [{"name": n, "reason": why} for n, why in unfinished_entries(model_dir)]
        models.append(
            {"model": name, "path": model_dir, "versions": versions, "unfinished": unfinished}
        )
    return models


def last_runs(home: str) -> list[dict]:
    """Per local pipeline: its newest run's Pusher outcome, with why it pushed nothing
    (every failed bound, in full) and the bounds its evaluation applied."""
    out = []
    for path in mlmd.local_stores(home):
        store = mlmd.open_store(path)
        found = runs.outcomes(store, path)
        if not found:
            continue
        newest = found[0]
        # A push explains itself in its provenance (shown above); only a run that
        # pushed nothing needs its artifacts read.
        why = None if newest["pushed"] else runs.decision(store, newest["artifact_id"])
        out.append({**newest, **(why or {}), "line": runs.explain_line(newest, why)})
    return out


def _cmd_status(args: argparse.Namespace) -> int:
    if args.serving_base and not os.path.isdir(args.serving_base):
        raise FileNotFoundError(
            f"{args.serving_base}: no such serving base; pass --serving-base or --home (a "
            f"`vrl run --home H` pushes to H/{SERVING_DIR})"
        )
    base = args.serving_base or os.path.join(args.home, SERVING_DIR)
    models = model_status(base, args.server, args.model_config)
    recent = last_runs(args.home) if os.path.isdir(args.home) else []
    if args.json:
        print(json.dumps({"models": models, "last_runs": recent}, indent=2, default=str))
        return 0
    if not models:
        print(f"{base}: no models pushed yet")
    for model in models:
        print(f"{model['model']}  ({model['path']})")
        if not model["versions"]:
            print("  no complete versions")
        for v in model["versions"]:
            state = f"  [{v['state'] or 'not loaded'}]" if args.server else ""
            tags = f"  ({', '.join(v['labels'])})" if v["labels"] else ""
            print(f"  {v['version']}{state}{tags}  {v['summary']}")
        for entry in model["unfinished"]:
            print(f"  {entry['name']}  unfinished: {entry['reason']}")
    for run in recent:
        print(f"last run of {run['pipeline']} ({run['model']}): {run['line']}")
    if not models and not recent:
        print(f"{args.home}: no pipeline runs either; start one with `vrl run image|rl --home`")
    return 0


# ------------------------------------------------------------------- label / rollback


def _cmd_label(args: argparse.Namespace) -> int:
    change = labels.set_label(
        args.model_config, args.model, args.label, args.version, args.server, args.timeout
    )
    print(change)
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    change = labels.rollback(args.model_config, args.model, args.to, args.server, args.timeout)
    print(change)
    return 0
