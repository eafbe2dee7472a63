"""Training stops when accuracy stops rising for `plateau_steps` optimizer steps."""

import numpy as np
import pytest
import tf_keras

from models.cnn.phases import AccuracyPlateau


def _model() -> tf_keras.Model:
    model = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _epochs_run(callback: AccuracyPlateau, accuracies: list[float], steps_per_epoch: int) -> int:
    """Feeds per-epoch accuracies as Keras' loop would; returns the epochs run."""
    model = _model()
    callback.set_model(model)
    for epoch, accuracy in enumerate(accuracies):
        callback.on_epoch_begin(epoch)
        model.optimizer.iterations.assign_add(steps_per_epoch)
        callback.on_epoch_end(epoch, {"val_accuracy": accuracy})
        if model.stop_training:
            return epoch + 1
    return len(accuracies)


def test_a_large_split_stops_after_one_epoch_that_did_not_move_accuracy():
    plateau = AccuracyPlateau("val_accuracy", steps=1000, delta=0.001, min_steps=600)
    assert _epochs_run(plateau, [0.9999, 0.9999, 1.0, 1.0], steps_per_epoch=1749) == 2
    assert plateau.stopped_at == 1


def test_a_small_split_keeps_its_epochs_through_a_flat_stretch():
    # 60 steps per epoch (the shapes demo): BatchNorm's warm-up leaves accuracy flat
    # for a few epochs, far fewer steps than plateau_steps.
    accuracies = [0.2] * 6 + [0.5, 0.8, 0.95, 0.98, 0.99, 0.99, 0.99, 0.995]
    plateau = AccuracyPlateau("val_accuracy", steps=1000, delta=0.001, min_steps=600)
    assert _epochs_run(plateau, accuracies, steps_per_epoch=60) == len(accuracies)
    assert plateau.stopped_at is None


SLOW_RISE = [0.99 + 0.0003 * i for i in range(6)]


@pytest.mark.parametrize(
    ("accuracies", "steps", "delta", "min_steps", "expected"),
    [
        (SLOW_RISE, 1000, 0.001, 0, 3),  # rises of 0.0003 are not progress: 1,000 steps
        (SLOW_RISE, 1000, 0.0001, 0, 6),  # they are with a smaller delta
        ([0.99] * 6, 0, 0.001, 0, 6),  # 0 turns the rule off
        ([0.99] * 6, 1000, 0.001, 2500, 5),  # nothing stops before min_steps are done
    ],
)
def test_delta_steps_and_min_steps(accuracies, steps, delta, min_steps, expected):
    plateau = AccuracyPlateau("val_accuracy", steps=steps, delta=delta, min_steps=min_steps)
    assert _epochs_run(plateau, accuracies, steps_per_epoch=500) == expected


def test_keras_fit_stops_and_keeps_the_best_weights_with_early_stopping():
    # A separable problem that reaches val_accuracy 1.0 in a few epochs: fit stops
    # long before its 40 epochs, and EarlyStopping's best weights are restored.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    x[:, 0] += np.where(y == 1, 2.0, -2.0)  # a wide margin: accuracy 1.0 within epochs
    model = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(2)])
    model.compile(
        tf_keras.optimizers.Adam(0.05),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ["accuracy"],
    )
    early = tf_keras.callbacks.EarlyStopping(patience=100, restore_best_weights=True)
    plateau = AccuracyPlateau("val_accuracy", steps=64, delta=0.001, min_steps=0)
    history = model.fit(
        x, y, batch_size=32, epochs=40, validation_split=0.25, callbacks=[early, plateau], verbose=0
    )
    assert plateau.stopped_at is not None
    assert len(history.history["loss"]) == plateau.stopped_at + 1 < 40
    assert max(history.history["val_accuracy"]) >= 0.97
