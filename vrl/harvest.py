"""`vrl harvest MODEL`: the logged images the model is least sure of, as a labelling folder.

Reads PredictionLogs (`vrl serve`'s request logs or `vrl run infer`'s), scores
each image (models/selection.py: margin, entropy or random), drops duplicates
(by sha256) and every image already in a training span of the model (the
sha256 feature of the tf.Examples each pushed version's provenance names, plus
any --exclude-examples), and writes the top `--budget` as files with a
`manifest.csv` (`path,label,model_guess,top1_probability,margin,entropy`, the
label column empty). Fill the labels, move the folder into the data folder as
`span-N/` (N the next span number), and the next `vrl run image` ingests it as
ImageExampleGen reads any CSV manifest span (`span-{SPAN}/*.csv`).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os

from vrl.help_format import DefaultsFormatter
from vrl.runs import SERVING_DIR

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
COLUMNS = ("path", "label", "model_guess", "top1_probability", "margin", "entropy")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers `vrl harvest`."""
    from models.selection import MARGIN, STRATEGIES

    p = sub.add_parser(
        "harvest",
        help="pick the logged images the model is least sure of into a labelling folder",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("model", help="model name (as served and as in the logs' model_spec)")
    p.add_argument("--out", required=True, help="new folder for the images and manifest.csv")
    p.add_argument("--budget", type=int, required=True, help="images to pick (at most)")
    p.add_argument("--strategy", choices=STRATEGIES, default=MARGIN, help="what to pick first")
    p.add_argument(
        "--logs",
        action="append",
        default=[],
        help="PredictionLog TFRecords: a logging_config filename_prefix, a folder or a "
        "file (repeatable)",
    )
    p.add_argument(
        "--model-config",
        default=None,
        help="TF Serving model config file: read the logs its logging_config names for MODEL",
    )
    p.add_argument("--home", default="runs", help="a `vrl run --home` folder")
    p.add_argument(
        "--serving-base",
        default=None,
        help=f"TF Serving model base whose versions' training spans are excluded "
        f"(default: <home>/{SERVING_DIR})",
    )
    p.add_argument(
        "--exclude-examples",
        action="append",
        default=[],
        help="more tf.Example folders (an Examples artifact) whose images are excluded",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --strategy random")
    p.set_defaults(func=_cmd_harvest)


def _cmd_harvest(args: argparse.Namespace) -> int:
    base = args.serving_base or os.path.join(args.home, SERVING_DIR)
    logs = list(args.logs)
    if args.model_config:
        from serving.model_config import load_config_file

        spec = {s.name: s for s in load_config_file(args.model_config)}.get(args.model)
        if spec is None or not spec.log_filename_prefix:
            what = "is not in" if spec is None else "has no logging_config in"
            raise ValueError(f"model {args.model!r} {what} {args.model_config}")
        logs.append(spec.log_filename_prefix)
    if not logs:
        raise ValueError("give --logs (PredictionLog files) or --model-config (its logging_config)")
    summary = harvest(
        args.model,
        logs,
        args.out,
        args.budget,
        args.strategy,
        serving_base=base,
        exclude_examples=args.exclude_examples,
        seed=args.seed,
    )
    for line in summary:
        print(line)
    return 0


def examples_sha256(examples_uri: str) -> set[str]:
    """The `sha256` feature of every tf.Example in an Examples artifact (all splits)."""
    import tensorflow as tf

    from contracts import features
    from models import tfdata

    files = [
        f for f in tf.io.gfile.glob(os.path.join(examples_uri, "Split-*", "*")) if "/." not in f
    ]
    if not files:
        raise FileNotFoundError(f"{examples_uri}: no Split-*/ TFRecords (not an Examples folder)")
    out = set()
    for record in tfdata.tfrecords(files, "GZIP").as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        value = example.features.feature[features.SHA256_KEY].bytes_list.value
        if value:
            out.add(value[0].decode("ascii"))
    return out


def trained_sha256(serving_base: str, model: str) -> tuple[set[str], list[str]]:
    """sha256 of every image the pushed versions of `model` were trained on (from each
    version's provenance), and a note per version whose examples cannot be read."""
    from components.atomic_pusher.provenance import read_provenance
    from contracts.serving_base import numeric_versions

    model_dir = os.path.join(serving_base, model)
    if not os.path.isdir(model_dir):
        return set(), [f"{model_dir}: no pushed versions, nothing excluded as trained on"]
    out: set[str] = set()
    notes = []
    for version in numeric_versions(model_dir):
        prov = read_provenance(os.path.join(model_dir, str(version))) or {}
        uri = (prov.get("data") or {}).get("examples_uri")
        if not uri:
            notes.append(f"version {version}: no examples_uri in its provenance")
            continue
        try:
            out |= examples_sha256(uri)
        except (OSError, ValueError) as e:
            notes.append(f"version {version}: training examples unreadable ({e})")
    return out, notes


def _extension(image: bytes) -> str | None:
    """File extension of an encoded image from its content (None: not an image PIL knows)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as img:
            fmt = (img.format or "").lower()
    except (UnidentifiedImageError, OSError):
        return None
    return {"jpeg": "jpg"}.get(fmt, fmt) or None


def write_folder(out: str, picks: list, scores: dict) -> int:
    """Writes each picked image as `<sha256[:16]>.<ext>` and manifest.csv; returns the count.

    Raises FileExistsError when `out` already holds a manifest or images (a labelling
    folder is never overwritten)."""
    if os.path.isdir(out) and os.listdir(out):
        raise FileExistsError(f"{out}: folder is not empty; harvest into a new folder")
    os.makedirs(out, exist_ok=True)
    rows = []
    for item in picks:
        ext = _extension(item.image)
        if ext is None:
            log.warning("logged image %s is not a readable image; skipped", item.sha256[:16])
            continue
        name = f"{item.sha256[:16]}.{ext}"
        with open(os.path.join(out, name), "wb") as f:
            f.write(item.image)
        margin, entropy = scores[item.sha256]
        top1 = float(item.probabilities.max())
        rows.append([name, "", item.guess, f"{top1:.4f}", f"{margin:.4f}", f"{entropy:.4f}"])
    with open(os.path.join(out, MANIFEST), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return len(rows)


def harvest(
    model: str,
    logs: list[str],
    out: str,
    budget: int,
    strategy: str,
    serving_base: str,
    exclude_examples: list[str] = (),
    seed: int = 0,
) -> list[str]:
    """Picks and writes the labelling folder; returns the summary lines to print.

    Raises ValueError on a negative budget or when no log file is found."""
    import numpy as np

    from models import selection
    from vrl.prediction_logs import log_files, read_logs

    if budget < 0:
        raise ValueError(f"--budget must be >= 0, got {budget}")
    if not log_files(logs):
        raise FileNotFoundError(f"no PredictionLog files at {', '.join(logs)}")
    pool, counts = read_logs(logs, model)
    exclude, notes = trained_sha256(serving_base, model)
    for uri in exclude_examples:
        exclude |= examples_sha256(uri)
    if not pool:
        raise ValueError(f"no logged images of model {model!r} in {counts.files} log file(s)")
    probs = np.stack([p.probabilities for p in pool])
    keys = [p.sha256 for p in pool]
    picked = selection.select(
        keys, selection.informativeness(probs, strategy, seed), budget, exclude
    )
    margins, entropies = selection.margin(probs), selection.entropy(probs)
    scores = {keys[i]: (float(margins[i]), float(entropies[i])) for i in picked}
    written = write_folder(out, [pool[i] for i in picked], scores)
    candidates = len(set(keys) - exclude)
    lines = [
        f"read {len(pool)} logged images of {model!r} from {counts.files} file(s)"
        + (
            f"; {len(counts.damaged_files)} damaged file(s) read up to the damage"
            if counts.damaged_files
            else ""
        ),
        f"{len(set(keys))} distinct, {len(set(keys) & exclude)} already in a training span, "
        f"{candidates} candidates",
        f"wrote {written} images ({strategy}) and {os.path.join(out, MANIFEST)}: fill its "
        "'label' column, then move the folder into the data folder as span-N/ "
        "(the next span number)",
    ]
    return lines + [f"note: {n}" for n in notes]
