"""Photo trainer throughput and peak memory: pretrained backbones at 96, 160 and 224 px.

For each backbone (MobileNetV3Small, EfficientNetV2B0) and image size, in one
process, the same model trains on the same photos two ways (structure of
bench/trainer_throughput.py):

- trainer: Transform's materialised examples of JPEG photos (320-640 px,
  some EXIF-rotated, put once through the Transform graph: scaled JPEG
  decode, EXIF orientation, aspect-preserving resize, centre crop, stored
  as uint8 pixels) -> parse -> cache -> shuffle -> batch -> scale ->
  augmentation -> prefetch, exactly as `run_fn` builds it; the first epoch
  pays for reading and parsing the records.
- baseline: the same decoded images as float32 tensors -> from_tensor_slices
  -> cache -> shuffle -> batch -> the same augmentation -> prefetch.

The one-off materialisation (the pipeline's Transform, once per run, on Beam
workers at scale) is timed separately and printed as ms per photo.

The model is phase 1 of fine-tuning (backbone frozen, inference-mode
BatchNorm, new head; weights "none" so nothing is downloaded: the compute is
the same as with ImageNet weights). Each path is timed `--repeats` times,
alternating which goes first (the machines are shared and noisy); prints every
run's images/s, the best of each path and their ratio per configuration
(target >= 0.9).

Then, in child processes, the peak resident memory of training on a split
whose decoded size exceeds the cache budget (its records read every epoch) and, for
contrast, of the same split under a budget it fits (cached).

    python bench/photo_trainer.py [--images 96] [--epochs 5] [--repeats 3] [--memory-images 400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ARCHS = ("mobilenet_v3_small", "efficientnet_v2_b0")
SIZES = (96, 160, 224)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--images", type=int, default=96, help="photos in the throughput runs")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed run (>= 2)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per path, alternating; the best counts"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--memory-images", type=int, default=400, help="0 skips memory runs")
    parser.add_argument("--memory-size", type=int, default=224)
    parser.add_argument("--skip-throughput", action="store_true", help="memory runs only")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # JSON args of a child run
    args = parser.parse_args()
    if args.epochs < 2 or args.repeats < 1:
        parser.error(
            f"--epochs must be >= 2 and --repeats >= 1, got {args.epochs} and {args.repeats}"
        )
    return args


def _photos(workdir: str, count: int) -> tuple[list[tuple[bytes, int]], list[str]]:
    from models.cnn import testing
    from vrl import demo_photos

    classes = ("china", "flower", "cat", "coffee")
    root = os.path.join(workdir, f"photos_{count}")
    if not os.path.exists(root):
        demo_photos.make_photos(
            root, classes=classes, per_class=-(-count // len(classes)), sizes=(320, 480, 640)
        )
    return testing.read_class_folders(root)


def _artifact(workdir: str, count: int, size: int) -> tuple[str, str, int, list[str], float]:
    """Raw Examples, transform graph at `size` and the materialised split.

    Returns (train_glob of the materialised split, transform dir, n, names,
    seconds the materialisation took, 0 when already there)."""
    from models.cnn import testing

    items, names = _photos(workdir, count)
    uri = os.path.join(workdir, f"examples_{count}")
    if not os.path.exists(uri):
        testing.write_examples_artifact(uri, {"train": items}, names)
    transform = os.path.join(workdir, f"transform_{count}_{size}")
    if not os.path.exists(transform):
        testing.build_transform_graph(uri, transform, size)
    transformed = os.path.join(workdir, f"transformed_{count}_{size}")
    seconds = 0.0
    if not os.path.exists(transformed):
        start = time.perf_counter()
        testing.materialize_examples(uri, transform, transformed)
        seconds = time.perf_counter() - start
    return os.path.join(transformed, "Split-train", "*"), transform, len(items), names, seconds


def _build(arch: str, size: int, num_classes: int):
    import tf_keras

    from models.cnn import model

    tf_keras.utils.set_random_seed(0)
    net = model.build_model((size, size, 3), num_classes, arch=arch, weights="none")
    net.get_layer("backbone").trainable = False  # phase 1, as with pretrained weights
    return model.compile_model(net, "adam", 1e-3)


def _throughput(args: argparse.Namespace, workdir: str, arch: str, size: int) -> tuple:
    import tensorflow as tf
    import tensorflow_transform as tft

    from models.cnn import augment, data

    train_glob, transform, count, names, materialize_seconds = _artifact(workdir, args.images, size)
    if materialize_seconds:
        print(
            f"    materialised {count} photos at {size} px in {materialize_seconds:.1f} s "
            "(Transform's one-off work, tft_beam on the DirectRunner, start-up included)"
        )
    tft_out = tft.TFTransformOutput(transform)
    shape = (size, size, 3)
    images, labels = data.take_arrays(data.transformed_dataset([train_glob], tft_out, shape), count)
    augmenter = augment.build_augmenter(size, seed=0)

    def trainer_dataset() -> tf.data.Dataset:
        ds = data.training_dataset([train_glob], tft_out, shape, args.batch_size, seed=0)
        return augment.augment_dataset(ds, augmenter)

    def baseline_dataset() -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
        ds = ds.shuffle(count, seed=0, reshuffle_each_iteration=True).batch(args.batch_size)
        return augment.augment_dataset(ds, augmenter)  # augmentation then prefetch, as trainer

    net = _build(arch, size, len(names))
    net.fit(baseline_dataset().take(1), epochs=1, verbose=0)  # trace once, untimed
    weights = net.get_weights()
    paths = [("trainer", trainer_dataset), ("baseline", baseline_dataset)]
    whole: dict[str, list[float]] = {"trainer": [], "baseline": []}
    cached: dict[str, list[float]] = {"trainer": [], "baseline": []}
    for repeat in range(args.repeats):
        for name, make in paths if repeat % 2 == 0 else paths[::-1]:
            net.set_weights(weights)
            ds = make()  # a fresh dataset: the trainer's first epoch decodes again
            seconds: list[float] = []
            net.fit(ds, epochs=args.epochs, verbose=0, callbacks=[_epoch_clock(seconds)])
            whole[name].append(count * args.epochs / sum(seconds))
            cached[name].append(count * (args.epochs - 1) / sum(seconds[1:]))
            print(
                f"    run {repeat + 1}/{args.repeats} {name:8s} {whole[name][-1]:7.1f} img/s "
                f"(epoch 1 {seconds[0]:.1f} s, later epochs {cached[name][-1]:.1f} img/s)"
            )
    return {k: (max(whole[k]), max(cached[k])) for k in whole}


def _epoch_clock(seconds: list[float]):
    """A Keras callback appending each epoch's wall seconds to `seconds`."""
    import tf_keras

    start: list[float] = []
    return tf_keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: start.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.append(time.perf_counter() - start[-1]),
    )


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the process's own address space. `ru_maxrss` is
    not used where VmHWM exists: Linux carries it across exec, so a child
    would report its parent's peak when that was higher (here, the parent
    that ran the Beam materialisation)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(spec: dict) -> None:
    """Trains one epoch the trainer's way under a cache budget; prints peak RSS as JSON."""
    import tensorflow_transform as tft

    from models.cnn import augment, data

    tft_out = tft.TFTransformOutput(spec["transform"])
    size, count = spec["size"], spec["count"]
    decoded_mb = data.decoded_megabytes(count, (size, size, 3))
    cache = decoded_mb <= spec["budget_mb"]  # the trainer's rule (models/cnn/trainer.py)
    ds = data.training_dataset(
        [spec["train_glob"]], tft_out, (size, size, 3), 16, seed=0, cache=cache
    )
    ds = augment.augment_dataset(ds, augment.build_augmenter(size, seed=0))
    net = _build(spec["arch"], size, spec["classes"])
    net.fit(ds, epochs=spec["epochs"], verbose=0)
    peak_mb = _peak_rss_mb()
    print(json.dumps({"cached": cache, "decoded_mb": decoded_mb, "peak_rss_mb": peak_mb}))


def _memory(args: argparse.Namespace, workdir: str) -> None:
    train_glob, transform, count, names, _ = _artifact(
        workdir, args.memory_images, args.memory_size
    )
    size = args.memory_size
    for budget in (16, 4096):
        spec = dict(
            transform=transform,
            train_glob=train_glob,
            size=size,
            count=count,
            classes=len(names),
            arch="mobilenet_v3_small",
            epochs=2,
            budget_mb=budget,
        )
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        result = json.loads(out.splitlines()[-1])
        print(
            f"memory: {count} photos at {size} px, decoded {result['decoded_mb']:.0f} MB, "
            f"cache budget {budget} MB -> {'cached' if result['cached'] else 'not cached'}: "
            f"peak RSS {result['peak_rss_mb']:.0f} MB (MobileNetV3Small, 2 epochs)"
        )


def main() -> None:
    args = _parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from models.cnn import runtime

    runtime.skip_autograph_for_tf_keras()  # what run_fn does; applies to both paths
    if args.memory_child:
        _memory_child(json.loads(args.memory_child))
        return
    import tensorflow as tf

    print(
        f"cpus={os.cpu_count()} tf={tf.__version__} images={args.images} epochs={args.epochs} "
        f"batch={args.batch_size} repeats={args.repeats} (best of each path counts)"
    )
    with tempfile.TemporaryDirectory(prefix="photo_trainer_") as workdir:
        for arch in [] if args.skip_throughput else args.archs:
            for size in args.sizes:
                best = _throughput(args, workdir, arch, size)
                (trainer, trainer_cached), (baseline, baseline_cached) = (
                    best["trainer"],
                    best["baseline"],
                )
                print(
                    f"{arch:20s} {size:4d} px  best: trainer {trainer:7.1f} img/s  "
                    f"baseline {baseline:7.1f} img/s  ratio {trainer / baseline:.3f} "
                    f"(target >= 0.9); epochs 2-{args.epochs} only (both cached): ratio "
                    f"{trainer_cached / baseline_cached:.3f}",
                    flush=True,
                )
        if args.memory_images:
            _memory(args, workdir)


if __name__ == "__main__":
    main()
