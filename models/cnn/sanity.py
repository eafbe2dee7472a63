"""Pre-training sanity checks from Karpathy's "A Recipe for Training Neural Networks".

1. Loss at initialisation: a K-way softmax classifier that knows nothing
   should score about -ln(1/K) = ln(K).
2. Overfit one small batch: a model that cannot reach ~100% accuracy on a
   dozen examples has a bug (labels misaligned, learning rate 0, frozen
   weights, broken preprocessing) that more data will not fix. The model to be
   trained does it and is then put back as it was (weights and optimizer).
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
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
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


class _Memorised(tf_keras.callbacks.Callback):
    """Stops `fit` once the batch is memorised; keeps each step's own figures (the
    metrics are reset before every step, so they are not a running mean)."""

    def __init__(self, target_accuracy: float, loss_fraction: float) -> None:
        super().__init__()
        self.target_accuracy, self.loss_fraction = target_accuracy, loss_fraction
        self.steps = 0
        self.initial_loss = self.loss = float("nan")
        self.accuracy = 0.0
        self.memorised = False

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.reset_metrics()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.steps = batch + 1
        self.loss, self.accuracy = float(logs["loss"]), float(logs["accuracy"])
        if batch == 0:
            self.initial_loss = self.loss
        if self.accuracy >= self.target_accuracy and (
            self.loss <= self.loss_fraction * self.initial_loss
        ):
            self.memorised = True
            self.model.stop_training = True


def check_overfit_batch(
    model: tf_keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    max_steps: int = 100,
    target_accuracy: float = 1.0,
    loss_fraction: float = 0.1,
    class_weight: dict[int, float] | None = None,
) -> OverfitResult:
    """Trains the compiled `model` on one small batch until it has memorised it, then
    puts it back as it was.

    Memorised means training-mode accuracy on one step (the figures Keras reports
    for it) >= `target_accuracy` and the loss below `loss_fraction` of its
    first-step value: accuracy alone can hit 100% while the loss is still near ln(K).

    The check trains the model that will really be trained, with its own optimizer
    and schedule (the first of its steps), through `fit` on a dataset whose batch
    dimension is unknown like the training split's: the train step traced here is
    the one the real `fit` reuses. A fresh model, as this check once built, paid a
    trace of its own (2-3 s on 2 cores for the default convnet). Afterwards the
    weights (BatchNorm's moving statistics among them) are restored and the
    optimizer's step counter and slots (Adam's moments, SGD's momentum) go back to
    zero, their initial values; a mixed-precision loss scale keeps the scale it
    adapted to, as it would during training. `class_weight` should be the real
    fit's, so the dataset has the same structure (Keras adds sample weights).

    Raises:
      SanityCheckError: if the target is not reached within `max_steps`.
    """
    if len(images) == 0:
        raise ValueError("check_overfit_batch needs at least one example, got an empty batch")
    labels = np.asarray(labels).reshape(-1)
    batch = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(labels)).repeat()
    saved = model.get_weights()
    memorised = _Memorised(target_accuracy, loss_fraction)
    try:
        model.fit(
            batch,
            steps_per_epoch=max_steps,
            callbacks=[memorised],
            class_weight=class_weight,
            verbose=0,
        )
    finally:
        model.set_weights(saved)
        for variable in model.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
    m = memorised
    if m.memorised:
        logging.info(
            "Sanity: overfit %d examples to accuracy %.3f in %d steps (loss %.4f -> %.4f)",
            len(labels),
            m.accuracy,
            m.steps,
            m.initial_loss,
            m.loss,
        )
        return OverfitResult(m.steps, m.accuracy, m.loss, m.initial_loss)
    raise SanityCheckError(
        f"could not overfit one batch of {len(labels)} examples in {max_steps} steps: training "
        f"accuracy {m.accuracy:.3f} (target {target_accuracy:.3f}), loss {m.initial_loss:.4f} -> "
        f"{m.loss:.4f} (target <= {loss_fraction * m.initial_loss:.4f}); check the learning "
        "rate, that labels match images, and the preprocessing"
    )


def before_training(
    net: tf_keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    overfit_batch: int,
    overfit_steps: int,
    class_weight: dict[int, float] | None = None,
) -> dict[str, float]:
    """Checks 1 and 2 on a sample of real examples: init loss of `net`, then `net`
    overfits `overfit_batch` examples taken across classes and is put back as it was."""
    init = check_init_loss(net, images, labels, num_classes)
    picked = pick_balanced(labels, overfit_batch)
    overfit = check_overfit_batch(
        net, images[picked], labels[picked], max_steps=overfit_steps, class_weight=class_weight
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
    # One eager call on the sample, as `check_init_loss` makes: `predict` would trace
    # a function for one use.
    predicted = model(images, training=False).numpy().argmax(axis=1)
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
