"""Pre-training sanity checks from Karpathy's "A Recipe for Training Neural Networks".

1. Loss at initialisation: a K-way softmax classifier that knows nothing
   should score about -ln(1/K) = ln(K).
2. Overfit one small batch: a model that cannot reach ~100% accuracy on a
   dozen examples has a bug (labels misaligned, learning rate 0, frozen
   weights, broken preprocessing) that more data will not fix.
3. After training, the model as it will be served (inference mode) must not
   answer one class for every example of a sample that holds several: that
   model learned nothing usable, whatever its training accuracy says (lagging
   BatchNorm statistics or a collapsed network look exactly like this).

Each takes plain arrays and models and raises `SanityCheckError` with a
one-line message that says what was measured and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import tf_keras
from absl import logging


class SanityCheckError(ValueError):
    """A sanity check failed: the data or the settings cannot train a useful model.

    A ValueError, like other bad input, so the command line prints its one-line
    message instead of a traceback."""


@dataclasses.dataclass(frozen=True)
class InitLossResult:
    loss: float
    expected: float
    tolerance: float


@dataclasses.dataclass(frozen=True)
class OverfitResult:
    steps: int
    accuracy: float
    loss: float
    initial_loss: float


def expected_init_loss(num_classes: int) -> float:
    """ln(K): cross-entropy of a uniform prediction over K classes."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return math.log(num_classes)


def mean_cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy of predicted probabilities."""
    probs = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def check_init_loss(
    model: tf_keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    tolerance: float = 0.25,
) -> InitLossResult:
    """Checks |loss_at_init - ln(K)| <= tolerance * ln(K) on one batch (inference mode).

    Raises:
      SanityCheckError: if the loss is off; usual causes are a wrong
        num_classes, labels outside [0, K), or a badly scaled final layer.
    """
    labels = np.asarray(labels).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise SanityCheckError(
            f"labels must lie in [0, {num_classes}) (label_vocab.txt has {num_classes} "
            f"classes), found labels in [{labels.min()}, {labels.max()}]"
        )
    probs = model(images, training=False).numpy()
    loss = mean_cross_entropy(probs, labels)
    expected = expected_init_loss(num_classes)
    allowed = tolerance * expected
    result = InitLossResult(loss=loss, expected=expected, tolerance=allowed)
    if not np.isfinite(loss) or abs(loss - expected) > allowed:
        raise SanityCheckError(
            f"loss at initialisation is {loss:.4f}, expected ln({num_classes}) = {expected:.4f} "
            f"within {allowed:.4f}; check num_classes, the labels and the final layer's init"
        )
    logging.info("Sanity: init loss %.4f vs ln(K) %.4f (ok)", loss, expected)
    return result


def check_overfit_batch(
    build_compiled_model: Callable[[], tf_keras.Model],
    images: np.ndarray,
    labels: np.ndarray,
    max_steps: int = 100,
    target_accuracy: float = 1.0,
    loss_fraction: float = 0.1,
) -> OverfitResult:
    """Trains a fresh model on one small batch until it has memorised it.

    Memorised means training-mode accuracy (as `train_on_batch` reports it)
    >= `target_accuracy` and the loss below `loss_fraction` of its first-step
    value: accuracy alone can hit 100% while the loss is still near ln(K).
    A fresh model is built so the model that will really be trained is left
    untouched.

    Raises:
      SanityCheckError: if the target is not reached within `max_steps`.
    """
    if len(images) == 0:
        raise ValueError("check_overfit_batch needs at least one example, got an empty batch")
    model = build_compiled_model()
    labels = np.asarray(labels).reshape(-1)
    initial_loss = loss = float("nan")
    accuracy = 0.0
    for step in range(1, max_steps + 1):
        metrics = model.train_on_batch(images, labels, return_dict=True)
        loss, accuracy = float(metrics["loss"]), float(metrics["accuracy"])
        if step == 1:
            initial_loss = loss
        if accuracy >= target_accuracy and loss <= loss_fraction * initial_loss:
            logging.info(
                "Sanity: overfit %d examples to accuracy %.3f in %d steps (loss %.4f -> %.4f)",
                len(labels),
                accuracy,
                step,
                initial_loss,
                loss,
            )
            return OverfitResult(step, accuracy, loss, initial_loss)
    raise SanityCheckError(
        f"could not overfit one batch of {len(labels)} examples in {max_steps} steps: training "
        f"accuracy {accuracy:.3f} (target {target_accuracy:.3f}), loss {initial_loss:.4f} -> "
        f"{loss:.4f} (target <= {loss_fraction * initial_loss:.4f}); check the learning rate, "
        "that labels match images, and the preprocessing"
    )


def before_training(
    net: tf_keras.Model,
    build_fresh: Callable[[], tf_keras.Model],
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    overfit_batch: int,
    overfit_steps: int,
) -> dict[str, float]:
    """Checks 1 and 2 on a sample of real examples: init loss of `net`, then a fresh
    model (`build_fresh`) overfits `overfit_batch` examples taken across classes."""
    init = check_init_loss(net, images, labels, num_classes)
    picked = pick_balanced(labels, overfit_batch)
    overfit = check_overfit_batch(
        build_fresh, images[picked], labels[picked], max_steps=overfit_steps
    )
    return {
        "init_loss": init.loss,
        "init_loss_expected": init.expected,
        "overfit_steps": overfit.steps,
    }


def check_not_constant(
    model: tf_keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
) -> int:
    """Checks that the trained model, in inference mode, predicts more than one class
    on examples of several classes; returns how many classes it predicts.

    Raises:
      SanityCheckError: every example gets the same class.
    """
    labels = np.asarray(labels).reshape(-1)
    if len(np.unique(labels)) < 2:
        return len(np.unique(labels))
    predicted = model.predict(images, batch_size=64, verbose=0).argmax(axis=1)
    classes = np.unique(predicted)
    if len(classes) < 2:
        name = label_names[int(classes[0])]
        raise SanityCheckError(
            f"the trained model answers {name!r} for all {len(labels)} training examples "
            f"checked ({len(np.unique(labels))} classes among them): it learned nothing "
            "usable; train for more steps (epochs, min_steps) or check the labels"
        )
    logging.info(
        "Sanity: the trained model predicts %d classes on %d examples", len(classes), len(labels)
    )
    return len(classes)


def pick_balanced(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` examples taken round-robin across classes."""
    labels = np.asarray(labels).reshape(-1)
    per_class = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked: list[int] = []
    while len(picked) < min(count, len(labels)):
        for bucket in per_class:
            if bucket and len(picked) < count:
                picked.append(int(bucket.pop(0)))
    return np.asarray(picked, dtype=np.int64)
