"""70,000 real digits, folder to pushed model: the pipeline beside a bare Keras script.

1. Writes a class-per-folder tree of 70,000 28x28 PNG digits (bench/digits.py:
   scikit-learn's real digits scaled to MNIST's size, each copy jittered), or
   uses --data.
2. Runs `vrl run image --data TREE --epochs 3 --image-size 28` end to end in a
   child process (LocalDagRunner, SQLite ML Metadata, in-memory Beam) and
   prints each component's seconds from its ML Metadata execution, the
   trainer's fit seconds and img/s (its training report), the eval accuracy
   TFMA measured, and whether the model was pushed.
3. Runs a bare Keras script on the same files in another child: tf_keras'
   image_dataset_from_directory (80/20 split), keras-io's MNIST convnet
   (Adam, the same batch size and epochs), decode + fit + evaluate, timed.

The machine's load average is printed beside the figures: on a shared
machine, compare the two paths of one run, not figures across runs.

    python bench/digits_pipeline.py [--data TREE] [--home DIR] [--epochs 3] [-- EXTRA vrl FLAGS]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BARE_KERAS = r"""
import os, sys, time, json
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import tf_keras as keras
data, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
kw = dict(image_size=(28, 28), batch_size=batch, validation_split=0.2, seed=0)
train = keras.utils.image_dataset_from_directory(data, subset="training", **kw)
test = keras.utils.image_dataset_from_directory(data, subset="validation", **kw)
scale = keras.layers.Rescaling(1 / 255.0)
train = train.map(lambda x, y: (scale(x), y)).cache().prefetch(-1)
test = test.map(lambda x, y: (scale(x), y)).cache().prefetch(-1)
net = keras.Sequential([
    keras.Input((28, 28, 3)),
    keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Flatten(), keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
fit_start = time.perf_counter()
history = net.fit(train, epochs=epochs, verbose=0)
fit = time.perf_counter() - fit_start
acc = net.evaluate(test, verbose=0, return_dict=True)["accuracy"]
n = sum(int(y.shape[0]) for _, y in train)
print(json.dumps({"total": time.perf_counter() - start, "fit": fit, "train": n,
                  "img_s": n * epochs / fit, "accuracy": acc}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    return env


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _pipeline(data: str, home: str, epochs: int, extra: list[str]) -> float:
    """Runs `vrl run image` in a child; returns its wall seconds."""
    argv = [sys.executable, "-m", "vrl", "run", "image", "--data", data, "--home", home]
    argv += ["--epochs", str(epochs), "--image-size", "28", *extra]
    start = time.time()
    subprocess.run(argv, check=True, env=_env())
    return time.time() - start


def _pipeline_table(data: str, home: str, wall: float) -> None:
    from image_pipeline import component_windows

    from contracts.files import TRAINING_REPORT_FILE
    from pipeline.image_config import ImagePipelineConfig
    from vrl.mlmd import open_store
    from vrl.results import latest_artifact, summarize
    from vrl.runner import metadata_path

    root = ImagePipelineConfig(data_dir=data, home=home).resolved_pipeline_root
    print(f"\n{'component':<28}{'seconds':>9}")
    for name, t0, t1 in component_windows(root):
        print(f"{name:<28}{t1 - t0:>9.1f}")
    print(f"{'whole `vrl run image`':<28}{wall:>9.1f}   ({_load()})")
    run = latest_artifact(open_store(metadata_path(root)), "ModelRun")
    with open(os.path.join(run.uri, TRAINING_REPORT_FILE)) as f:
        report = json.load(f)["summary"]
    fit = report["seconds"]["fit"]
    seen = report["optimizer_steps"] * report["config"]["batch_size"]
    print(
        f"trainer: {report['config']['arch']} {report.get('filters')}, "
        f"{report['epochs_run']} epochs, fit {fit:.1f} s, {seen / fit:.0f} img/s, "
        f"{report['train_examples']} training images"
    )
    summary = summarize(root)
    acc = summary.metrics.get("sparse_categorical_accuracy")
    print(f"eval accuracy (TFMA): {acc}; blessed {summary.blessed}; pushed {summary.pushed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="class-per-folder tree (default: 70,000 digits written)")
    parser.add_argument("--count", type=int, default=70_000)
    parser.add_argument("--home", help="default: a temporary folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="the bare script's")
    parser.add_argument("extra", nargs="*", help="more `vrl run image` flags, after --")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="vrl-digits-")
    data = args.data
    if not data:
        import digits

        data = os.path.join(home, "digits")
        start = time.time()
        images, labels, _ = digits.make_digits(args.count)
        digits.write_tree(data, images, labels)
        print(f"wrote {len(images)} PNGs in {time.time() - start:.0f} s ({_load()})")
    print(f"{os.cpu_count()} CPUs; {_load()}")
    wall = _pipeline(data, os.path.join(home, "runs"), args.epochs, args.extra)
    _pipeline_table(data, os.path.join(home, "runs"), wall)
    out = subprocess.run(
        [sys.executable, "-c", BARE_KERAS, data, str(args.epochs), str(args.batch_size)],
        check=True,
        env=_env(),
        capture_output=True,
        text=True,
    )
    bare = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"bare Keras (keras-io convnet, same files): total {bare['total']:.1f} s, "
        f"fit {bare['fit']:.1f} s, {bare['img_s']:.0f} img/s, "
        f"accuracy {bare['accuracy']:.4f} ({_load()})"
    )
    print(f"pipeline / bare wall-time ratio: {wall / bare['total']:.2f}")


if __name__ == "__main__":
    main()
