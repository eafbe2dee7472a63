"""Which network for small images: held-out accuracy and CPU seconds per candidate.

Each candidate is built by the trainer's own factory (`models.cnn.model`) and
compiled as the trainer compiles it (Adam 1e-3, cosine decay over the run);
all train on the same 28x28 digits (bench/digits.py: scikit-learn's real
digits, scaled to MNIST's size, each copy jittered) from one in-memory
tf.data pipeline (cache, shuffle, batch, prefetch), and are scored after every
epoch on copies of source digits that no training image comes from.

Prints, per candidate and epoch: seconds, training images/s, held-out
accuracy, and the seconds until held-out accuracy first reached 0.99. The
machine's load average is printed beside them: on a shared machine the
seconds are comparable within one run only.

    python bench/small_nets.py [--count 20000] [--epochs 3] [--only compact-32-64-b128]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# name: (arch, filters, batch size)
CANDIDATES = {
    "compact-32-64-b32": ("compact", (32, 64), 32),
    "compact-32-64-b128": ("compact", (32, 64), 128),
    "compact-16-32-b128": ("compact", (16, 32), 128),
    "compact-48-96-b128": ("compact", (48, 96), 128),
    "convnet-16-32-64-b32": ("convnet", (16, 32, 64), 32),
    "convnet-16-32-b32": ("convnet", (16, 32), 32),
    "convnet-32-64-128-b32": ("convnet", (32, 64, 128), 32),
    "convnet-32-64-128-b128": ("convnet", (32, 64, 128), 128),
}


def _datasets(count: int, batch: int):
    """(train, held-out) tf.data of float32 [N, 28, 28, 3] in [0, 1] and int labels."""
    import digits
    import numpy as np
    import tensorflow as tf

    images, labels, source = digits.make_digits(count)
    held = digits.split_by_source(source)
    rgb = np.repeat(images[..., None], 3, axis=-1)

    def scale(x, y):
        return tf.cast(x, tf.float32) / 255.0, y

    train = tf.data.Dataset.from_tensor_slices((rgb[~held], labels[~held])).cache()
    train = train.shuffle(10_000, seed=0).batch(batch).map(scale).prefetch(tf.data.AUTOTUNE)
    test = tf.data.Dataset.from_tensor_slices((rgb[held], labels[held])).batch(512).map(scale)
    return train, test, int((~held).sum()), int(held.sum())


def _run(name: str, count: int, epochs: int) -> list[str]:
    import tf_keras

    from models.cnn import model

    arch, filters, batch = CANDIDATES[name]
    train, test, n_train, n_test = _datasets(count, batch)
    tf_keras.utils.set_random_seed(0)
    net = model.build_model((28, 28, 3), 10, arch=arch, filters=filters, dropout=0.3)
    steps = -(-n_train // batch)
    model.compile_model(net, decay_steps=steps * epochs)
    rows, spent, reached = [], 0.0, None
    for epoch in range(epochs):
        start = time.perf_counter()
        net.fit(train, epochs=1, verbose=0)
        took = time.perf_counter() - start
        spent += took
        acc = net.evaluate(test, verbose=0, return_dict=True)["accuracy"]
        if reached is None and acc >= 0.99:
            reached = spent
        rows.append(
            f"{name:<24}{net.count_params():>9}{epoch + 1:>6}{took:>8.1f}"
            f"{n_train / took:>9.0f}{acc:>9.4f}"
            f"{'' if reached is None else f'{reached:.1f}':>10}{os.getloadavg()[0]:>7.1f}"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="images, 80%% of sources train")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), default=None)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.count} digits 28x28; {args.epochs} epochs each")
    print(
        f"{'candidate':<24}{'params':>9}{'epoch':>6}{'sec':>8}{'img/s':>9}{'held-out':>9}"
        f"{'s to .99':>10}{'load1':>7}"
    )
    for name in args.only or CANDIDATES:
        _run(name, args.count, args.epochs)


if __name__ == "__main__":
    main()
