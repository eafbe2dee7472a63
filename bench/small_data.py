"""Small photo sets: eval accuracy of each architecture trained from scratch.

Data the project can make without a download:

- faces: scikit-image's faces vs non-faces (`skimage.data.lfw_subset()`,
  100 + 100 grey 25x25 crops), written as PNG files, one folder per class;
- photos: `vrl data photos` with its defaults (crops of the bundled sample
  photos, 4 classes x 40 JPEGs, a quarter EXIF-rotated);
- shapes: `vrl data shapes --per-class 60` (5 classes, 300 drawings).

Each set is split by content hash as ImageExampleGen splits it (80/20), put
through the real Transform graph once per image size, and every
configuration runs the Trainer's `run_fn` as the pipeline calls it: sanity
checks on, the trainer's default epochs and early stopping. The table shows
the exported model's accuracy on the held-out split, how many classes it
predicts there (1 = a constant model), the best epoch and the optimizer steps.

    python bench/small_data.py [--datasets faces photos shapes] [--archs convnet ...]
        [--backbone-size 96] [--epochs N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

DATASETS = ("faces", "photos", "shapes")
ARCHS = ("convnet", "resnet", "mobilenet_v3_small", "efficientnet_v2_b0", "resnet50")
SMALL_SIZE = 32  # the pipeline's default image_size


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument(
        "--backbone-size", type=int, default=96, help="image side for the backbones"
    )
    parser.add_argument(
        "--small-size", type=int, default=SMALL_SIZE, help="image side for convnet and resnet"
    )
    parser.add_argument("--epochs", type=int, help="trainer epochs (default: the trainer's)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", help="keeps data and transform graphs between runs")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    return parser.parse_args()


def _write_faces(root: str) -> None:
    """scikit-image's 100 faces then 100 non-faces as grey PNGs in face/ and not_face/."""
    import numpy as np
    import skimage.data

    from models.cnn import testing

    images = skimage.data.lfw_subset()
    for i, image in enumerate(images):
        name = "face" if i < len(images) // 2 else "not_face"
        os.makedirs(os.path.join(root, name), exist_ok=True)
        pixels = np.round(image * 255).astype(np.uint8)
        with open(os.path.join(root, name, f"{name}_{i:04d}.png"), "wb") as f:
            f.write(testing.encode_image(pixels, "png"))


def make_dataset(name: str, workdir: str) -> str:
    """The class-folder tree of one dataset under `workdir` (made once)."""
    from vrl import demo_data, demo_photos

    root = os.path.join(workdir, "data", name)
    if os.path.isdir(root):
        return root
    if name == "faces":
        _write_faces(root + ".partial")
        os.rename(root + ".partial", root)
    elif name == "photos":
        demo_photos.make_photos(root)
    else:
        demo_data.make_shapes(root, per_class=60)
    return root


def transformed(name: str, size: int, workdir: str) -> tuple[str, str, list[int]]:
    """(materialised examples, transform graph, class counts) of a dataset at one size."""
    from models.cnn import testing

    base = os.path.join(workdir, "transformed", f"{name}_{size}")
    examples, graph, out = (os.path.join(base, d) for d in ("examples", "graph", "xf"))
    items, names = testing.read_class_folders(make_dataset(name, workdir))
    if not os.path.isdir(out):
        testing.write_examples_artifact(examples, testing.hash_split(items), names)
        testing.build_transform_graph(examples, graph, image_size=size)
        testing.materialize_examples(examples, graph, out)
    counts = [sum(1 for _, label in items if label == c) for c in range(len(names))]
    return out, graph, counts


def run_one(
    name: str, arch: str, size: int, workdir: str, epochs: int | None, seed: int
) -> dict[str, object]:
    """Trains one configuration with run_fn; returns its row of the table."""
    import tf_keras
    from tfx.components.trainer.fn_args_utils import FnArgs

    from contracts import files
    from models.cnn import error_analysis, trainer

    xf, graph, counts = transformed(name, size, workdir)
    out = tempfile.mkdtemp(prefix=f"{name}_{arch}_", dir=workdir)
    config: dict[str, object] = {"arch": arch, "image_size": size, "seed": seed}
    if arch not in ("convnet", "resnet"):
        config["weights"] = "none"
    if epochs:
        config["epochs"] = epochs
    fn_args = FnArgs(
        train_files=[os.path.join(xf, "Split-train", "*")],
        eval_files=[os.path.join(xf, "Split-eval", "*")],
        transform_output=graph,
        serving_model_dir=os.path.join(out, "serving_model_dir"),
        model_run_dir=os.path.join(out, "model_run_dir"),
        train_steps=None,
        eval_steps=None,
        custom_config=config,
    )
    row: dict[str, object] = {"dataset": name, "arch": arch, "size": size, "classes": len(counts)}
    start = time.perf_counter()
    try:
        trainer.run_fn(fn_args)
    except Exception as e:  # a failed configuration is a row of the table, not the end
        row.update(error=f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
        return row
    finally:
        row["seconds"] = round(time.perf_counter() - start)
        tf_keras.backend.clear_session()
    run_dir = fn_args.model_run_dir
    with open(os.path.join(run_dir, files.TRAINING_REPORT_FILE)) as f:
        summary = json.load(f)["summary"]
    analysis_path = os.path.join(run_dir, error_analysis.OUTPUT_DIR, error_analysis.REPORT_JSON)
    with open(analysis_path) as f:
        analysis = json.load(f)
    predicted = [sum(column) for column in zip(*analysis["confusion_matrix"], strict=True)]
    row.update(
        eval_accuracy=round(analysis["accuracy"], 3),
        eval_examples=analysis["examples"],
        predicted_classes=sum(1 for n in predicted if n),
        majority_share=round(max(counts) / sum(counts), 3),
        best_epoch=summary["best_epoch"],
        epochs_run=summary["epochs_run"],
        optimizer_steps=summary["optimizer_steps"],
    )
    return row


def print_table(rows: list[dict[str, object]]) -> None:
    """One line per configuration."""
    header = (
        f"{'dataset':8} {'arch':20} {'px':>4} {'eval acc':>8} {'chance':>6} {'pred cls':>8} "
        f"{'best ep':>7} {'epochs':>6} {'steps':>6} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        lead = f"{r['dataset']:8} {r['arch']:20} {r['size']:>4}"
        if "error" in r:
            print(f"{lead} FAILED {r['error']}")
            continue
        print(
            f"{lead} {r['eval_accuracy']:>8.3f} {r['majority_share']:>6.3f} "
            f"{r['predicted_classes']:>4}/{r['classes']:<3} {r['best_epoch']:>7} "
            f"{r['epochs_run']:>6} {r['optimizer_steps']:>6} {r['seconds']:>5}"
        )


def main() -> None:
    args = _parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    workdir = args.workdir or tempfile.mkdtemp(prefix="small_data_")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for name in args.datasets:
        for arch in args.archs:
            size = args.small_size if arch in ("convnet", "resnet") else args.backbone_size
            rows.append(run_one(name, arch, size, workdir, args.epochs, args.seed))
            print_table(rows[-1:])
    print()
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
