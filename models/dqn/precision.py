"""Mixed precision for the Q-network: float16 compute where a GPU runs it fast.

The torso (TF-Agents' EncodingNetwork, as in QNetwork) computes in float16
with float32 variables (Keras' `mixed_float16` policy); the Q-value layer
runs in float32, so Q-values, TD targets and the loss are float32. Float16
activations can underflow in the backward pass, so the optimizer is Keras'
LossScaleOptimizer (dynamic loss scale) and the agent scales the loss before
differentiating: TF-Agents' DqnAgent does not, hence `LossScaledTrain`.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from tf_agents.agents.dqn import dqn_agent
from tf_agents.networks import encoding_network, network
from tf_agents.specs import tensor_spec
from tf_agents.utils import eager_utils

MIXED_POLICY = "mixed_float16"


def fast_float16_gpu() -> bool:
    """True when a visible GPU has compute capability >= 7.0 (tensor cores)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (7, 0):
            return True
    return False


class MixedPrecisionQNetwork(network.Network):
    """QNetwork's layout (EncodingNetwork torso, linear Q-value layer with
    QNetwork's initializers) with the torso in float16 and the Q-values in float32."""

    def __init__(
        self,
        input_tensor_spec: tensor_spec.TensorSpec,
        action_spec: tensor_spec.BoundedTensorSpec,
        preprocessing_layers: tf_keras.layers.Layer | None = None,
        conv_layer_params: tuple | None = None,
        fc_layer_params: tuple[int, ...] = (),
        name: str = "QNetwork",
    ):
        super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
        policy = tf_keras.mixed_precision.Policy(MIXED_POLICY)
        self._encoder = encoding_network.EncodingNetwork(
            input_tensor_spec,
            preprocessing_layers=preprocessing_layers,
            conv_layer_params=conv_layer_params,
            fc_layer_params=fc_layer_params,
            dtype=policy,
        )
        self._q_value_layer = tf_keras.layers.Dense(
            int(action_spec.maximum - action_spec.minimum + 1),
            kernel_initializer=tf.random_uniform_initializer(minval=-0.03, maxval=0.03),
            bias_initializer=tf.constant_initializer(-0.2),
            dtype="float32",
        )

    def call(self, observation, step_type=None, network_state=(), training=False):
        state, network_state = self._encoder(
            observation, step_type=step_type, network_state=network_state, training=training
        )
        return self._q_value_layer(tf.cast(state, tf.float32), training=training), network_state


class LossScaledTrain:
    """Mixin for DqnAgent/DdqnAgent: DqnAgent._train with the loss scaled by the
    LossScaleOptimizer before differentiating and the gradients unscaled before
    clipping (a step whose gradients overflow is skipped and the scale lowered)."""

    def _train(self, experience, weights):
        optimizer = self._optimizer
        with tf.GradientTape() as tape:
            loss_info = self._loss(
                experience,
                td_errors_loss_fn=self._td_errors_loss_fn,
                gamma=self._gamma,
                reward_scale_factor=self._reward_scale_factor,
                weights=weights,
                training=True,
            )
            scaled_loss = optimizer.get_scaled_loss(loss_info.loss)
        tf.debugging.check_numerics(loss_info.loss, "Loss is inf or nan")
        variables = self._q_network.trainable_weights
        grads = optimizer.get_unscaled_gradients(tape.gradient(scaled_loss, variables))
        grads_and_vars = list(zip(grads, variables, strict=True))
        if self._gradient_clipping is not None:
            grads_and_vars = eager_utils.clip_gradient_norms(
                grads_and_vars, self._gradient_clipping
            )
        optimizer.apply_gradients(grads_and_vars)
        self.train_step_counter.assign_add(1)
        self._update_target()
        return loss_info


class LossScaledDqnAgent(LossScaledTrain, dqn_agent.DqnAgent):
    """DqnAgent for a mixed-precision Q-network."""


class LossScaledDdqnAgent(LossScaledTrain, dqn_agent.DdqnAgent):
    """DdqnAgent for a mixed-precision Q-network."""
