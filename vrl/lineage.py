"""`vrl lineage`: a pushed version, or a run that pushed nothing, traced back to its
input span through ML Metadata (`--home`: a local run's SQLite stores;
`--metadata-config`: any store a connection config file names)."""

from __future__ import annotations

import argparse
import json

from vrl import mlmd, runs


def add_parser(sub: argparse._SubParsersAction, formatter) -> None:
    """Registers `vrl lineage`."""
    p = sub.add_parser(
        "lineage",
        help="trace a pushed version back to its input span through ML Metadata",
        formatter_class=formatter,
    )
    p.add_argument(
        "target",
        metavar="MODEL[:VERSION]|RUN",
        help="model name, optionally :version, or a pipeline run id (`vrl status --home` "
        "shows them); a model with no push yet shows its newest run and why it pushed nothing",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--home", default="runs", help="a `vrl run --home` folder (SQLite stores)")
    where.add_argument(
        "--metadata-config",
        default=None,
        help="text-proto ConnectionConfig (sqlite/mysql) or MetadataStoreClientConfig (gRPC)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_lineage)


def _stores(home: str, metadata_config: str | None) -> list[tuple[object, str]]:
    if metadata_config:
        return [(mlmd.connect(metadata_config), metadata_config)]
    paths = mlmd.local_stores(home)
    if not paths:
        raise FileNotFoundError(
            f"{home}: no ML Metadata store under tfx/*/metadata.sqlite (no run yet?); pass "
            "--home or --metadata-config"
        )
    return [(mlmd.open_store(p), p) for p in paths]


def _pick(found: list[tuple[object, dict]], target: str) -> tuple[object, dict] | None:
    """The outcome `target` names: a run id; else `MODEL:VERSION`'s push; else MODEL's
    newest push; else MODEL's newest run (one that pushed nothing)."""
    by_run = [(s, o) for s, o in found if o["run_id"] == target]
    if by_run:
        return by_run[0]
    model, _, version_text = target.partition(":")
    if version_text and not version_text.isdigit():
        raise ValueError(f"{target!r}: expected MODEL, MODEL:VERSION (a number) or a run id")
    mine = [(s, o) for s, o in found if o["model"] == model]
    pushed = [(s, o) for s, o in mine if o["pushed"]]
    if version_text:
        pushed = [(s, o) for s, o in pushed if str(o["version"]) == version_text]
        return pushed[0] if pushed else None
    return (pushed or mine or [None])[0]


def lineage(target: str, home: str = "runs", metadata_config: str | None = None) -> dict:
    """{model, version, run_id, store, pushed, decision, steps} for `MODEL[:VERSION]` or
    a run id. A model with no push yet gives its newest run, with why nothing was
    pushed (version None)."""
    stores = _stores(home, metadata_config)
    found = [(store, o) for store, where in stores for o in runs.outcomes(store, where)]
    found.sort(key=lambda pair: pair[1]["time"], reverse=True)
    picked = _pick(found, target)
    if picked is None:
        model, _, version = target.partition(":")
        wanted = f"push of {model} version {version}" if version else f"run or push of {model}"
        ran = sorted({o["model"] or "?" for _, o in found})
        raise ValueError(f"no {wanted} in {[w for _, w in stores]} (models with runs: {ran})")
    store, outcome = picked
    artifact = store.get_artifacts_by_id([outcome["artifact_id"]])[0]
    return {
        "model": outcome["model"],
        "version": int(outcome["version"]) if outcome["pushed"] else None,
        "run_id": outcome["run_id"],
        "store": outcome["store"],
        "pushed": {"uri": artifact.uri, **mlmd.props(artifact, mlmd.SHOWN)},
        "decision": runs.decision(store, artifact.id),
        "steps": mlmd.trace(store, artifact),
    }


def render(result: dict) -> str:
    """Text form: the decision, then one block per execution, nearest to the push first."""
    from components.atomic_pusher.provenance import thresholds_text

    where = f"run {result['run_id']}, store {result['store']}"
    decision = result["decision"]
    if result["version"] is not None:
        lines = [
            f"{result['model']}:{result['version']}  pushed to "
            f"{result['pushed'].get('pushed_destination')}  ({where})"
        ]
    else:
        lines = [f"{result['model']}: nothing pushed by this run  ({where})"]
        lines += [f"  why: {reason}" for reason in decision["reasons"]]
    bounds = thresholds_text(decision.get("thresholds"))
    if bounds:
        lines.append(f"  bounds: {bounds}")
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
