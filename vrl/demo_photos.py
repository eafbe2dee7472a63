"""A small real-photo dataset from the sample photos that ship inside packages.

Each class is one photo (scikit-learn's `china.jpg` and `flower.jpg`,
scikit-image's `astronaut`, `chelsea`, `coffee`, `rocket`, `hubble_deep_field`,
`immunohistochemistry`): random crops of it, re-encoded as JPEG at several
sizes and aspect ratios. Every `exif_every`-th file is stored rotated or
mirrored with the EXIF Orientation tag that turns it upright again, as phone
cameras write them, so a pipeline that ignores EXIF sees those sideways.
Nothing is downloaded; numpy and Pillow do the writing.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image

from contracts.files import FOLDER_PATTERN
from vrl.demo_data import _complete_or_absent, _write

# Class name -> (package, name): photos that load offline from the installed packages.
PHOTO_SOURCES = {
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
    "astronaut": ("skimage", "astronaut"),
    "cat": ("skimage", "chelsea"),
    "coffee": ("skimage", "coffee"),
    "rocket": ("skimage", "rocket"),
    "galaxies": ("skimage", "hubble_deep_field"),
    "tissue": ("skimage", "immunohistochemistry"),
}
EXIF_ORIENTATION_TAG = 0x0112
# Orientation -> the PIL transpose that makes a stored image of that
# orientation from the upright one (the inverse of what a viewer applies).
_STORE_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def load_photo(name: str) -> np.ndarray:
    """The named class's source photo as uint8 RGB [H, W, 3]."""
    if name not in PHOTO_SOURCES:
        raise ValueError(f"unknown photo class {name!r}; choose from {sorted(PHOTO_SOURCES)}")
    package, item = PHOTO_SOURCES[name]
    if package == "sklearn":
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(item), dtype=np.uint8)
    import skimage.data

    return np.asarray(getattr(skimage.data, item)()[..., :3], dtype=np.uint8)


def exif_jpeg(upright: Image.Image, orientation: int, quality: int = 90) -> bytes:
    """JPEG bytes stored so that applying EXIF `orientation` (1..8) shows `upright`."""
    stored = upright if orientation == 1 else upright.transpose(_STORE_AS[orientation])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> Image.Image:
    """A crop of 35-70% of the shorter side, aspect 3:4..4:3, longer side resized to `size`."""
    h, w = photo.shape[:2]
    side = rng.uniform(0.35, 0.7) * min(h, w)
    aspect = rng.uniform(0.75, 4 / 3)
    ch, cw = int(min(h, side / np.sqrt(aspect))), int(min(w, side * np.sqrt(aspect)))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = Image.fromarray(photo[top : top + ch, left : left + cw])
    scale = size / max(ch, cw)
    return crop.resize((max(1, round(cw * scale)), max(1, round(ch * scale))), Image.BICUBIC)


def class_count(per_class: int, imbalance: float, class_id: int, classes: int) -> int:
    """Images of class `class_id` of `classes`: `per_class` divided by a geometric share of
    `imbalance`, rounded up so largest/smallest stays within `imbalance` and the data
    passes an ImageChecks limit of the same value (3 by default)."""
    share = class_id / max(1, classes - 1)
    return max(1, math.ceil(per_class / imbalance**share - 1e-9))


def make_photos(
    out_dir: str,
    classes: tuple[str, ...] = ("china", "flower", "cat", "coffee"),
    per_class: int = 40,
    sizes: tuple[int, ...] = (64, 96, 160),
    exif_every: int = 4,
    imbalance: float = 1.0,
    seed: int = 0,
) -> dict:
    """Writes `<out>/<class>/<class>_NNNN.jpg` crops of the bundled sample photos.

    Args:
      out_dir: dataset root (must not exist or be empty).
      classes: names from `PHOTO_SOURCES`.
      per_class: images of the first class; later classes get fewer with `imbalance`.
      sizes: longer side of each crop, cycled through.
      exif_every: every n-th file is stored transposed with an EXIF Orientation
        tag (2..8 in turn) that makes it upright; 0 writes none.
      imbalance: largest/smallest class count at most (1 = balanced), spread
        geometrically; counts are rounded up so the ratio never exceeds it.
      seed: same seed, byte-identical files.

    Returns:
      Summary: path, classes, per-class counts, total, EXIF-tagged files, pattern.
    """
    if per_class < 1 or not classes or not sizes or imbalance < 1:
        raise ValueError(
            f"need per_class >= 1, classes, sizes and imbalance >= 1; got per_class={per_class}, "
            f"classes={classes}, sizes={sizes}, imbalance={imbalance}"
        )
    counts: dict[str, int] = {}
    tagged = 0
    with _complete_or_absent(out_dir) as staging:
        for class_id, name in enumerate(classes):
            photo = load_photo(name)
            count = class_count(per_class, imbalance, class_id, len(classes))
            os.makedirs(os.path.join(staging, name))
            for i in range(count):
                rng = np.random.default_rng([seed, class_id, i])
                upright = random_crop(photo, rng, sizes[i % len(sizes)])
                orientation = 1
                if exif_every and i % exif_every == exif_every - 1:
                    orientation = 2 + (i // exif_every) % 7
                    tagged += 1
                data = exif_jpeg(upright, orientation, quality=int(rng.integers(80, 96)))
                _write(os.path.join(staging, name, f"{name}_{i:04d}.jpg"), data)
            counts[name] = count
    return {
        "path": out_dir,
        "classes": list(classes),
        "counts": counts,
        "total": sum(counts.values()),
        "exif_tagged": tagged,
        "pattern": FOLDER_PATTERN,
    }
