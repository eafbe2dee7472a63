"""Pipeline runs in a local ML Metadata store: what each run's Pusher decided and why.

A run that pushed nothing leaves no version folder and no provenance, only its
artifacts: a PushedModel marked `pushed=0`, the blessing beside the evaluation
that made it. These functions read those, so `vrl status`, `lineage` and
`report` can explain a run before the first push as well as after it.
"""

from __future__ import annotations

import json
import os

from contracts.serving_base import ALREADY_SERVED_PROPERTY
from vrl import mlmd

SERVING_DIR = "serving"  # `vrl run --home H` pushes to H/serving
RUN_CONTEXT = "pipeline_run"  # TFX's context type for one run; its name is the run id


def run_id_of(store, execution_id: int) -> str | None:
    """The pipeline run id (TFX's `pipeline_run` context name) of an execution."""
    import ml_metadata as mlmd_lib

    try:
        run_type = store.get_context_type(RUN_CONTEXT).id
    except mlmd_lib.errors.NotFoundError:  # a store not written by TFX's orchestrators
        return None
    for context in store.get_contexts_by_execution(execution_id):
        if context.type_id == run_type:
            return context.name
    return None


def _producer(store, artifact_id: int):
    events = store.get_events_by_artifact_ids([artifact_id])
    ids = sorted(e.execution_id for e in events if e.type in mlmd.OUTPUT_EVENTS)
    return store.get_executions_by_id(ids[:1])[0] if ids else None


def _model_of(pusher) -> str | None:
    """The model name a Pusher execution pushes to: its destination folder's name."""
    destination = mlmd.props(pusher).get("push_destination")
    try:
        spec = json.loads(destination) if isinstance(destination, str) else destination or {}
    except json.JSONDecodeError:
        return None
    base = (spec.get("filesystem") or {}).get("base_directory") or (
        spec.get("filesystem") or {}
    ).get("baseDirectory")
    return os.path.basename(str(base).rstrip("/")) if base else None


def _model_of_destination(pushed_props: dict) -> str | None:
    """The model name in a push's destination, `<base>/<model>/<version>`."""
    destination = str(pushed_props.get("pushed_destination") or "").rstrip("/")
    return os.path.basename(os.path.dirname(destination)) or None


def outcomes(store, store_path: str) -> list[dict]:
    """Every Pusher outcome in a store, newest first: run id, model, pushed or not,
    version, and (when not pushed) why, with the bounds the evaluation applied."""
    out = []
    for artifact in store.get_artifacts_by_type("PushedModel"):
        pusher = _producer(store, artifact.id)
        if pusher is None:
            continue
        p = mlmd.props(artifact)
        out.append(
            {
                "pipeline": os.path.basename(os.path.dirname(store_path)),
                "store": store_path,
                "run_id": run_id_of(store, pusher.id),
                "model": _model_of(pusher) or _model_of_destination(p),
                "time": mlmd.time_text(artifact.create_time_since_epoch),
                "pushed": bool(p.get("pushed")),
                "already_served": p.get(ALREADY_SERVED_PROPERTY) == 1,
                "version": p.get("pushed_version"),
                "artifact_id": artifact.id,
                "_order": (artifact.create_time_since_epoch, artifact.id),
            }
        )
    out.sort(key=lambda o: o.pop("_order"), reverse=True)
    return out


def decision(store, pushed_artifact_id: int) -> dict:
    """{blessed, reasons, thresholds, evaluation_uri, kind} of the run that made a
    PushedModel: the blessing and evaluation its Pusher read."""
    pusher = _producer(store, pushed_artifact_id)
    inputs = [e.artifact_id for e in store.get_events_by_execution_ids([pusher.id])]
    types = {t.id: t.name for t in store.get_artifact_types()}
    by_type = {types.get(a.type_id): a for a in store.get_artifacts_by_id(inputs)}
    blessing = by_type.get("ModelBlessing")
    if blessing is None:
        return {"blessed": None, "reasons": ["the Pusher read no blessing"], "thresholds": {}}
    evaluation = _evaluation_beside(store, blessing.id)
    return _explain(blessing, evaluation.uri if evaluation is not None else None)


def _evaluation_beside(store, blessing_id: int):
    """The ModelEvaluation written by the execution that wrote the blessing."""
    producer = _producer(store, blessing_id)
    if producer is None:
        return None
    events = store.get_events_by_execution_ids([producer.id])
    ids = [e.artifact_id for e in events if e.type in mlmd.OUTPUT_EVENTS]
    types = {t.id: t.name for t in store.get_artifact_types()}
    found = [a for a in store.get_artifacts_by_id(ids) if types.get(a.type_id) == "ModelEvaluation"]
    return found[0] if found else None


def _explain(blessing, evaluation_uri: str | None) -> dict:
    """Why a blessing is what it is, with the bounds applied. A policy's report is
    plain JSON; only an image model's TFMA results need TensorFlow (imported then)."""
    from components.atomic_pusher.provenance import policy_thresholds
    from components.policy_evaluator.constants import NOT_BLESSED_FILE
    from contracts import files

    blessed = bool(mlmd.props(blessing).get("blessed"))
    report_path = os.path.join(evaluation_uri or "", files.POLICY_REPORT_FILE)
    if evaluation_uri and os.path.isfile(report_path):
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
        thresholds, kind = policy_thresholds(report), "rl"
        reasons = [report.get("reason")] if report.get("reason") else []
    else:
        thresholds, reasons = _tfma_explain(blessed, evaluation_uri)
        kind = "image"
    note = os.path.join(blessing.uri, NOT_BLESSED_FILE)
    if not blessed and not reasons and os.path.isfile(note):
        with open(note, encoding="utf-8") as f:
            reasons = [f.read().strip()]
    return {
        "blessed": blessed,
        "reasons": [r for r in reasons if r] or ([] if blessed else ["not blessed"]),
        "thresholds": thresholds,
        "evaluation_uri": evaluation_uri,
        "kind": kind,
    }


def _tfma_explain(blessed: bool, evaluation_uri: str | None) -> tuple[dict, list[str]]:
    """(bounds, failed bounds and the TFLite gate's reason) of a GatedEvaluator run."""
    if not evaluation_uri:
        return {}, []
    import logging

    from components.atomic_pusher import gather  # TensorFlow and TFMA: only here

    # TFMA's result reader warns about a deprecated TF API on every call.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    thresholds = gather.evaluation_thresholds(evaluation_uri)
    reasons = [] if blessed else gather.tfma_failures(evaluation_uri)
    gate = gather.read_json(os.path.join(evaluation_uri, gather.TFLITE_GATE_FILE))
    if not blessed and gate and not gate.get("passed"):
        reasons.append(gate.get("reason"))
    return thresholds, reasons


def all_outcomes(home: str) -> list[tuple[object, dict]]:
    """(store, outcome) for every Pusher outcome of every local pipeline, newest first."""
    found = []
    for path in mlmd.local_stores(home):
        store = mlmd.open_store(path)
        found.extend((store, o) for o in outcomes(store, path))
    return sorted(found, key=lambda pair: pair[1]["time"], reverse=True)


def find(home: str, run_id: str | None = None, model: str | None = None):
    """(store, outcome) of run `run_id`, or of `model`'s newest run; None if no such run."""
    for store, outcome in all_outcomes(home):
        if run_id is not None and outcome["run_id"] == run_id:
            return store, outcome
        if model is not None and outcome["model"] == model:
            return store, outcome
    return None


def explain_line(outcome: dict, why: dict | None) -> str:
    """`<time> run <id>: pushed version 3` or `... not pushed ...` with the reasons."""
    from components.atomic_pusher.provenance import thresholds_text

    head = f"{outcome['time']} run {outcome['run_id']}"
    if outcome["pushed"] and outcome.get("already_served"):
        return f"{head}: its model is the served version {outcome['version']} (not pushed again)"
    if outcome["pushed"]:
        return f"{head}: pushed version {outcome['version']}"
    text = f"{head}: not pushed; the served model (if any) is unchanged"
    if why:
        text += "\n    why: " + "\n         ".join(why["reasons"])
        bounds = thresholds_text(why["thresholds"])
        if bounds:
            text += f"\n    bounds: {bounds}"
    return text
