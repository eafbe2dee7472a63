"""Fitting in phases: train (or train the head), then fine-tune the backbone's top.

Phase 1 runs `epochs` epochs: the whole network for convnet/resnet and for
backbones trained from scratch (their BatchNorm in training mode), only the
new head for a pretrained backbone (frozen). Phase 2, for pretrained
backbones only, unfreezes the top `fine_tune_layers` layers (BatchNorm layers
stay frozen; a pretrained backbone is always called in inference mode) and runs `fine_tune_epochs` more epochs at
`learning_rate * fine_tune_lr_factor`, constant. The weights kept are the
best of either phase by the monitored loss.

`fit` is the trainer's fit phase: it makes the callbacks (early stopping on
val_loss with the best weights restored, a stop when accuracy stops rising for
`plateau_steps` steps, checkpoints, TensorBoard, progress lines) and runs both
phases on the data phase's datasets.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tf_keras
from absl import logging

from models.cnn import backbones, report
from models.cnn.build import ModelBuilder
from models.cnn.config import TrainerConfig
from models.cnn.training_data import TrainingData


@dataclasses.dataclass
class FitResult:
    """Merged per-epoch history of all phases and where the kept weights came from."""

    history: dict[str, list[float]]
    best_epoch: int
    """Index into the merged history of the epoch whose weights were kept."""
    phases: list[dict[str, Any]]

    def summary(self, net: tf_keras.Model) -> dict[str, Any]:
        """The training report's fit figures (epochs count from 1)."""
        best = self.best_epoch
        return {
            "epochs_run": len(self.history.get("loss", [])),
            "phases": self.phases,
            "optimizer_steps": int(net.optimizer.iterations.numpy()),
            "best_epoch": best + 1,
            "train_accuracy": float(self.history["accuracy"][best]),
            "train_loss": float(self.history["loss"][best]),
        }


def _merge(history: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    for key, values in more.items():
        history.setdefault(key, []).extend(float(v) for v in values)


def fit_in_phases(
    net: tf_keras.Model,
    config: TrainerConfig,
    train_ds: tf.data.Dataset,
    eval_ds: tf.data.Dataset | None,
    callbacks: list[tf_keras.callbacks.Callback],
    early: tf_keras.callbacks.EarlyStopping,
    recompile: Callable[[tf_keras.Model, float], None],
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    class_weight: dict[int, float] | None = None,
) -> FitResult:
    """Runs phase 1 and (for a pretrained backbone) phase 2; see the module docstring.

    Args:
      recompile: compiles `net` again with a constant learning rate (inside
        the distribution strategy's scope) after layers are unfrozen.
    """
    fit_kwargs = dict(
        validation_data=eval_ds,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=0,
    )
    history: dict[str, list[float]] = {}
    first = "head" if config.pretrained else "train"
    _merge(history, net.fit(train_ds, epochs=config.epochs, **fit_kwargs).history)
    best, best_value = early.best_epoch, early.best
    phases = [{"phase": first, "epochs": len(history["loss"]), "lr": config.resolved_learning_rate}]
    if not (config.pretrained and config.fine_tune_layers and config.fine_tune_epochs):
        return FitResult(history, best, phases)

    backbone = backbones.backbone_of(net)
    kept = net.get_weights()  # order is fixed while the backbone is frozen
    unfrozen = backbones.unfreeze_top(net, config.fine_tune_layers)
    rate = config.resolved_learning_rate * config.fine_tune_lr_factor
    recompile(net, rate)
    start = len(history["loss"])
    logging.info("Fine-tuning: %d backbone layers unfrozen, learning rate %g", unfrozen, rate)
    more = net.fit(
        train_ds, initial_epoch=start, epochs=start + config.fine_tune_epochs, **fit_kwargs
    ).history
    _merge(history, more)
    phases.append(
        {"phase": "fine_tune", "epochs": len(more.get("loss", [])), "lr": rate, "layers": unfrozen}
    )
    if early.best < best_value:
        best = early.best_epoch  # Keras counts epochs from initial_epoch
    else:  # phase 2 never beat phase 1: keep phase 1's best weights
        backbone.trainable = False
        net.set_weights(kept)
        logging.info("Fine-tuning did not improve %s; kept the head-only weights", early.monitor)
    return FitResult(history, best, phases)


class AccuracyPlateau(tf_keras.callbacks.Callback):
    """Stops training when `monitor` has not risen by `delta` for `steps` optimizer steps.

    Steps are counted from the optimizer's iterations at each epoch's start and end
    (a recompile between phases starts a new optimizer), and only once `min_steps`
    steps have been made, so BatchNorm's warm-up never looks like a plateau. The
    stop takes effect at an epoch's end; EarlyStopping then restores the best
    weights by its own monitor, as after any stop.
    """

    def __init__(self, monitor: str, steps: int, delta: float, min_steps: int) -> None:
        super().__init__()
        self.monitor, self.steps, self.delta, self.min_steps = monitor, steps, delta, min_steps
        self.best = -float("inf")
        self.done = 0
        """Optimizer steps made so far, over all phases."""
        self.since_best = 0
        self.stopped_at: int | None = None
        self._epoch_start = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        made = int(self.model.optimizer.iterations.numpy()) - self._epoch_start
        self.done += made
        current = (logs or {}).get(self.monitor)
        if current is None or not self.steps:
            return
        if current >= self.best + self.delta:
            self.best, self.since_best = float(current), 0
            return
        self.since_best += made
        if self.done >= self.min_steps and self.since_best >= self.steps:
            self.stopped_at = epoch
            self.model.stop_training = True
            logging.info(
                "%s has not risen by %g in %d steps (best %.4f): training stops after epoch %d",
                self.monitor,
                self.delta,
                self.since_best,
                self.best,
                epoch + 1,
            )


def make_callbacks(
    model_run_dir: str, config: TrainerConfig, has_eval: bool, examples: int | None
) -> tuple[list[tf_keras.callbacks.Callback], tf_keras.callbacks.EarlyStopping]:
    """Early stopping (best weights restored), checkpoints, TensorBoard, progress lines."""
    monitor = "val_loss" if has_eval else "loss"
    early = tf_keras.callbacks.EarlyStopping(
        monitor=monitor, patience=config.patience, restore_best_weights=True
    )
    checkpoints = tf_keras.callbacks.ModelCheckpoint(
        os.path.join(model_run_dir, "checkpoints", "best"),
        monitor=monitor,
        save_best_only=True,
        save_weights_only=True,
    )
    tensorboard = tf_keras.callbacks.TensorBoard(
        log_dir=model_run_dir, update_freq="epoch", profile_batch=0
    )
    plateau = AccuracyPlateau(
        "val_accuracy" if has_eval else "accuracy",
        config.plateau_steps,
        config.plateau_delta,
        config.min_steps,
    )
    total = config.epochs + (config.fine_tune_epochs if config.pretrained else 0)
    progress = report.EpochProgressLogger(total, examples)
    return [early, plateau, checkpoints, tensorboard, progress], early


def fit(
    net: tf_keras.Model,
    config: TrainerConfig,
    inputs: TrainingData,
    builder: ModelBuilder,
    model_run_dir: str,
    validation_steps: int | None = None,
) -> FitResult:
    """The trainer's fit phase: callbacks, then `fit_in_phases` on the prepared data."""
    callbacks, early = make_callbacks(
        model_run_dir,
        config,
        inputs.eval_ds is not None,
        inputs.steps_per_epoch * config.batch_size,
    )
    return fit_in_phases(
        net,
        config,
        inputs.train_ds,
        inputs.eval_ds,
        callbacks,
        early,
        builder.recompile,
        steps_per_epoch=inputs.steps_per_epoch if inputs.repeat else None,
        validation_steps=validation_steps,
        class_weight=inputs.class_weight,
    )
