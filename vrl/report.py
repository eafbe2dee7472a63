"""`vrl report MODEL[:VERSION]|RUN --out report.html`: one self-contained page per pushed
version, or per run (also one that pushed nothing: why, and what it measured).

Built from the version's provenance (always there) and, when a local ML
Metadata store holds its run, the run's artifacts: TFDV statistics and
anomalies, the image checks, learning curves, and the Trainer's error
analysis of the model on the eval split (per-class precision and recall, a
confusion matrix, the most confidently wrong images). Plots are embedded
PNGs; nothing is fetched from the web.
"""

from __future__ import annotations

import argparse
import html
import os

from contracts import files
from vrl import mlmd, monitor_files, report_data, report_model, report_production, runs
from vrl.report_data import table
from vrl.runs import SERVING_DIR


def add_parser(sub: argparse._SubParsersAction, formatter) -> None:
    """Registers `vrl report`."""
    p = sub.add_parser(
        "report",
        help="one HTML page about a pushed version or a run (also one that pushed nothing)",
        formatter_class=formatter,
    )
    p.add_argument(
        "target",
        metavar="MODEL[:VERSION]|RUN",
        help="model name, optionally :version, or a pipeline run id (`vrl status` shows "
        "them); a model with no push yet reports its newest run and why it pushed nothing",
    )
    p.add_argument("--out", default="report.html", help="HTML file to write")
    p.add_argument(
        "--serving-base", default=None, help=f"model base (default: <home>/{SERVING_DIR})"
    )
    p.add_argument("--home", default="runs", help="`vrl run --home` folder (ML Metadata)")
    p.add_argument(
        "--monitor",
        default=None,
        help=f"`vrl monitor --out` folder of the model, for the production section "
        f"(default: {monitor_files.default_out('MODEL')})",
    )
    p.set_defaults(func=_cmd_report)


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;overflow-wrap:break-word}"
    "img{max-width:100%}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
)
_DECISION_KEYS = ("blessed", "reason", "reasons", "failed_thresholds", "metric", "value")
_DECISION_KEYS += ("delta", "baseline")


def _version_dir(target: str, serving_base: str) -> str | None:
    """`<base>/<model>/<version>` of `MODEL[:VERSION]` (newest complete version when none
    is given), or None when the target names no pushed version (a run id, or a model
    with no push yet)."""
    from contracts.serving_base import complete_versions

    model, _, version_text = target.partition(":")
    if version_text and not version_text.isdigit():
        return None  # a run id: 2026-12-06T07:06:28.514788
    model_dir = os.path.join(serving_base, model)
    versions = complete_versions(model_dir) if os.path.isdir(model_dir) else []
    if version_text and int(version_text) not in versions:
        raise FileNotFoundError(f"{model_dir}: no complete version {version_text} of {model!r}")
    return os.path.join(model_dir, str(version_text or versions[-1])) if versions else None


def _run_record(lineage: dict) -> tuple[dict, str | None]:
    """A provenance-shaped record of a run that pushed nothing, read from the artifacts
    its Pusher was given (the same readers the pusher uses), and its model's
    SavedModel folder."""
    from tfx.utils import path_utils

    from components.atomic_pusher import gather, provenance
    from components.image_example_gen.spec import QuarantineReport

    inputs = {a["type"]: a for a in (lineage["steps"][0]["inputs"] if lineage["steps"] else [])}
    decision = lineage["decision"]
    model = inputs.get("Model")
    uri = decision.get("evaluation_uri")
    if decision.get("kind") == "rl":
        evaluation = gather.policy_evaluation(uri, {}, None, blessed=decision["blessed"])
        trainer, metrics = gather.dqn_training(model["uri"]) if model else (None, None)
    else:
        # The served version it was compared with, as its evaluator recorded it.
        evaluation = gather.tfma_evaluation(
            uri, gather.baseline(None, uri), blessed=decision["blessed"]
        )
        run = inputs.get("ModelRun")
        trainer, metrics = gather.cnn_training(run["uri"] if run else None)
    evaluation.update(reasons=decision["reasons"], thresholds=decision["thresholds"])
    examples, quarantine = inputs.get("Examples"), inputs.get(QuarantineReport.TYPE_NAME)
    ingest = (
        gather.read_json(os.path.join(quarantine["uri"], files.INGEST_REPORT_FILE))
        if quarantine
        else None
    )
    data = provenance.data_section(
        {**examples["properties"], "uri": examples["uri"]} if examples else None, ingest
    )
    record = {
        "kind": decision.get("kind"),
        "pipeline": {"run_id": lineage["run_id"]},
        "data": data,
        "trainer": trainer,
        "metrics": {"training": metrics} if metrics else None,
        "evaluation": evaluation,
    }
    return record, path_utils.serving_model_dir(model["uri"]) if model else None


def _subject(target: str, serving_base: str, home: str):
    """(heading, provenance, lineage or None, model folder, (model, version) or None when
    nothing was pushed) of a pushed version or of a run."""
    from components.atomic_pusher.provenance import read_provenance
    from vrl import lineage as lineage_lib

    version_dir = _version_dir(target, serving_base)
    if version_dir is None:
        found = lineage_lib.lineage(target, home=home)
        if found["version"] is None:
            record, model_dir = _run_record(found)
            heading = f"{found['model']}: run {found['run_id']}, nothing pushed"
            return heading, record, found, model_dir, None
        version_dir = os.path.join(serving_base, found["model"], str(found["version"]))
    model, version = os.path.basename(os.path.dirname(version_dir)), os.path.basename(version_dir)
    prov = read_provenance(version_dir)
    if prov is None:
        raise ValueError(f"{version_dir}: no provenance; pushed before provenance existed")
    try:
        found = lineage_lib.lineage(f"{model}:{version}", home=home)
    except (FileNotFoundError, ValueError):
        found = None
    return f"{model} version {version}", prov, found, version_dir, (model, version)


def _lines(value):
    """A list as '; '-joined text (failed bounds read better than JSON)."""
    return "; ".join(map(str, value)) if isinstance(value, list) else value


def build(target: str, serving_base: str, home: str, monitor: str | None = None) -> str:
    """The HTML page for `MODEL[:VERSION]` (newest complete version if none) or for a
    run id (also one that pushed nothing; so is a model with no push yet). With
    `monitor` (`vrl monitor`'s --out folder of the model; "": its default folder), a
    pushed version's page gets a production section: served traffic against what the
    model learned from."""
    from components.atomic_pusher.provenance import summary_line, thresholds_text
    from vrl import lineage as lineage_lib

    heading, prov, lineage, model_dir, served = _subject(target, serving_base, home)
    data = prov.get("data") or {}
    evaluation = prov.get("evaluation") or {}
    decision = [(k, _lines(evaluation.get(k))) for k in _DECISION_KEYS if k in evaluation]
    if evaluation.get("reasons") == evaluation.get("failed_thresholds"):
        decision = [(k, v) for k, v in decision if k != "reasons"]
    decision.append(("bounds", thresholds_text(evaluation.get("thresholds")) or "not recorded"))
    sections = [
        f"<h1>{html.escape(heading)}</h1>",
        f"<p>{html.escape(summary_line(prov))}</p>",
        "<h2>Decision</h2>",
        table(decision),
    ]
    if data:
        sections += ["<h2>Ingest</h2>", table(sorted((k, v) for k, v in data.items()))]
    if prov.get("kind") != "rl":
        sections += ["<h2>Data checks</h2>", report_data.anomalies(lineage)]
        sections += ["<h2>Statistics (TFDV)</h2>", report_data.statistics(lineage)]
        per_class = sorted((evaluation.get("per_class_accuracy") or {}).items())
        sections += ["<h2>Evaluation</h2>", table(per_class, ("class", "accuracy (TFMA)"))]
        sections += [report_model.classification(lineage, model_dir)]
    sections += ["<h2>Training</h2>", report_model.curves(lineage, prov)]
    sections += [table(sorted((prov.get("trainer") or {}).items()), ("setting", "value"))]
    metrics = (prov.get("metrics") or {}).get("training") or {}
    sections += [table(sorted(metrics.items()), ("metric", "value"))]
    if monitor is not None and served is not None:
        folder = monitor or monitor_files.default_out(served[0])
        sections += ["<h2>Production</h2>", report_production.section(folder, served[1])]
    if lineage:
        text = lineage_lib.render(lineage)
        sections += ["<h2>Lineage</h2>", f"<pre>{html.escape(text)}</pre>"]
    body = "\n".join(sections)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(heading)}</title>'
        f"<style>{_STYLE}</style><script>{_LOAD_CHECK}</script></head><body>{body}</body></html>"
    )


# Marks on <body> how many images decoded, how many script errors occurred and
# whether anything is wider than the window, so a headless browser's DOM dump
# tells whether the page rendered whole.
_LOAD_CHECK = (
    "var vrlErrors=0;window.addEventListener('error',function(){vrlErrors++;},true);"
    "window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}"
    "document.body.setAttribute('data-images',ok+'/'+im.length);"
    "document.body.setAttribute('data-errors',String(vrlErrors));"
    "var d=document.documentElement;"
    "document.body.setAttribute('data-overflow',String(d.scrollWidth>d.clientWidth));});"
)


def write_beside_run(
    pushed_path: str | None, serving_base: str, home: str, pipeline_root: str
) -> str:
    """Writes the report of a run to `<pipeline_root>/reports/` and returns its path:
    of its pushed version (once per version), or, when it pushed nothing
    (`pushed_path` None), of the pipeline's newest run, named by its run id."""
    if pushed_path:
        version_dir = pushed_path.rstrip("/")
        model = os.path.basename(os.path.dirname(version_dir))
        target = f"{model}:{os.path.basename(version_dir)}"
        name = f"{model}-{os.path.basename(version_dir)}.html"
    else:
        from vrl.runner import metadata_path

        path = metadata_path(pipeline_root)
        found = runs.outcomes(mlmd.open_store(path), path) if os.path.isfile(path) else []
        if not found:
            raise FileNotFoundError(f"{path}: no run of this pipeline to report on")
        target = found[0]["run_id"]
        name = f"run-{target.replace(':', '')}.html"  # 2026-12-06T070628.514788
    out = os.path.join(pipeline_root, "reports", name)
    if not os.path.exists(out):
        page = build(target, serving_base, home)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = f"{out}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    return out


def print_run_report(
    pushed_path: str | None, serving_base: str, home: str, pipeline_root: str
) -> None:
    """The command line's hook after a run: write the page (of the pushed version, or
    of the run when it pushed nothing), say where (or why not)."""
    try:
        print(f"report: {write_beside_run(pushed_path, serving_base, home, pipeline_root)}")
    except (OSError, ValueError) as e:  # the run itself succeeded; say what failed
        print(f"report not written: {e}")


def _cmd_report(args: argparse.Namespace) -> int:
    serving_base = args.serving_base or os.path.join(args.home, SERVING_DIR)
    page = build(args.target, serving_base, args.home, args.monitor or "")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"wrote {args.out} ({len(page) // 1024} KiB)")
    return 0
