"""The trainer's build-and-compile phase: the configured network under the device strategy.

`ModelBuilder` binds the trainer config, the data's shape and class count and
the strategy (`runtime.choose_strategy`), so fine-tuning can compile the
model again at a lower rate under the same strategy.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tf_keras
from absl import logging

from models.cnn import model, runtime
from models.cnn.config import TrainerConfig


@dataclasses.dataclass(frozen=True)
class ModelBuilder:
    """Builds and compiles the configured network inside the strategy's scope."""

    config: TrainerConfig
    input_shape: tuple[int, int, int]
    num_classes: int
    decay_steps: int
    """Optimizer steps the cosine schedule decays over (the whole run)."""
    strategy: tf.distribute.Strategy
    mixed_precision: bool

    @classmethod
    def for_data(
        cls, config: TrainerConfig, input_shape: tuple, num_classes: int, decay_steps: int
    ) -> ModelBuilder:
        """A builder on this machine's strategy (several GPUs: mirrored; any GPU: mixed
        precision)."""
        strategy, mixed = runtime.choose_strategy()
        logging.info("%d replica(s), mixed precision %s", strategy.num_replicas_in_sync, mixed)
        return cls(config, tuple(input_shape), num_classes, decay_steps, strategy, mixed)

    def build(self) -> tf_keras.Model:
        """A fresh compiled network."""
        c = self.config
        with self.strategy.scope():
            net = model.build_model(
                self.input_shape,
                self.num_classes,
                arch=c.arch,
                filters=c.resolved_filters(self.input_shape[0]),
                dropout=c.dropout,
                mixed_precision=self.mixed_precision,
                weights=c.resolved_weights,
                stem=c.stem,
            )
            return model.compile_model(
                net,
                optimizer=c.optimizer,
                learning_rate=c.resolved_learning_rate,
                schedule=c.schedule,
                decay_steps=self.decay_steps,
                mixed_precision=self.mixed_precision,
                label_smoothing=c.label_smoothing,
            )

    def recompile(self, net: tf_keras.Model, learning_rate: float) -> None:
        """Compiles `net` again at a constant rate (after fine-tuning unfreezes layers)."""
        c = self.config
        with self.strategy.scope():
            model.compile_model(
                net,
                optimizer=c.optimizer,
                learning_rate=learning_rate,
                schedule="constant",
                mixed_precision=self.mixed_precision,
                label_smoothing=c.label_smoothing,
            )
