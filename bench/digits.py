"""Real handwritten digits at MNIST's size, from data an installed package ships.

No package that bundles MNIST's idx files installs cleanly beside the pinned
stack (the ones on the registry download them at run time, or ship a broken
wheel), so this scales up scikit-learn's digits: 1,797 real 8x8 digits (16 grey
levels) from 43 writers, bilinear-upscaled to 20x20 and centred in a 28x28
frame as MNIST's are, each copy with its own random rotation (+-12 degrees),
scale (0.9-1.1) and shift (+-2 px) so no two images are equal.

`split_by_source` keeps every copy of one source digit on one side, so a
held-out accuracy is on digits never seen in training (the pipeline's own
hash split of files cannot know that copies share a source: its eval accuracy
on such a tree is optimistic; use the held-out one to compare networks).

    python bench/digits.py OUT_DIR [--count 70000]   # class-per-folder PNG tree
"""

from __future__ import annotations

import argparse
import os

import numpy as np

SIDE = 28
"""MNIST's image side."""
_BOX = 20
"""MNIST's digits fill a 20x20 box centred in the frame."""


def _affine(src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 28x28 uint8 copy of a 20x20 float digit, randomly rotated, scaled, shifted."""
    from scipy import ndimage

    angle = np.deg2rad(rng.uniform(-12, 12))
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-2, 2, size=2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
    frame = np.zeros((SIDE, SIDE), np.float32)
    pad = (SIDE - _BOX) // 2
    frame[pad : pad + _BOX, pad : pad + _BOX] = src
    centre = np.array([SIDE / 2 - 0.5] * 2)
    offset = centre - rot @ (centre + shift)
    out = ndimage.affine_transform(frame, rot, offset=offset, order=1, mode="constant")
    return np.clip(out * 255.0, 0, 255).astype(np.uint8)


def make_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [count, 28, 28], labels int [count], source index [count]).

    Sources are used round-robin in a shuffled order, so every one of the 1,797
    digits appears count / 1797 times (+-1).
    """
    from scipy import ndimage
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32) / 16.0
    big = np.stack([ndimage.zoom(d, _BOX / 8, order=1) for d in small]).clip(0, 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(big))
    source = order[np.arange(count) % len(big)]
    images = np.stack([_affine(big[i], rng) for i in source])
    return images, digits.target[source].astype(np.int64), source


def split_by_source(source: np.ndarray, eval_fraction: float = 0.2, seed: int = 1) -> np.ndarray:
    """Boolean mask of the held-out examples: all copies of a fifth of the sources."""
    ids = np.unique(source)
    rng = np.random.default_rng(seed)
    held = rng.choice(ids, size=int(len(ids) * eval_fraction), replace=False)
    return np.isin(source, held)


def write_tree(out_dir: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes out_dir/<digit>/<i>.png, one greyscale PNG per image."""
    from PIL import Image

    for digit in np.unique(labels):
        os.makedirs(os.path.join(out_dir, str(digit)), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image, mode="L").save(os.path.join(out_dir, str(label), f"{i:05d}.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--count", type=int, default=70_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images, labels, _ = make_digits(args.count, args.seed)
    write_tree(args.out_dir, images, labels)
    print(
        f"wrote {len(images)} PNGs in {len(np.unique(labels))} class folders under {args.out_dir}"
    )


if __name__ == "__main__":
    main()
