"""Replay memory for pixel observations that stores each frame once.

TF-Agents' TFUniformReplayBuffer stores whole observations, so a 4-frame
Atari stack costs four copies of every frame (28 KB per transition at
84x84x4 uint8, 2.8 GB per 100k), and TF-Agents has no frame-deduplicating
buffer (DeepMind's Reverb has none either and cannot be installed next to
this stack), so this one is written by hand, in TensorFlow ops so it runs
inside the compiled collect and train phases and checkpoints like any
TF-Agents buffer. It keeps the newest frame of each step and the first step
of its episode; sampling rebuilds each stacked observation from the frames
before it, repeating the episode's first frame where the episode is younger
than the stack, exactly as gymnasium's FrameStackObservation pads on reset.

With a batch of N envs, each env is a stream: one `add_batch` call stores one
row of N steps, slot `row * N + stream`, and a stacked observation is rebuilt
from its own stream's earlier rows (TFUniformReplayBuffer's layout with
batch_size=N). Rows and episode starts count vector steps of the batch.
"""

from __future__ import annotations

import logging

import tensorflow as tf
from tf_agents.trajectories import trajectory

from models.dqn.memory import bytes_per_transition, stored_transitions


class FrameReplay(tf.Module):
    """Uniform replay over the steps of `num_envs` env streams, each frame stored once (uint8).

    Same calls as TFUniformReplayBuffer as the training loop uses them:
    `add_batch(traj)` with a batch of `num_envs` steps (one per stream), and
    `get_next(sample_batch_size, num_steps)` returning `num_steps` consecutive
    trajectories of one stream per sample.
    """

    def __init__(
        self,
        data_spec: trajectory.Trajectory,
        capacity: int,
        frames_per_observation: int,
        num_envs: int = 1,
        device: str = "/CPU:0",
        name: str = "FrameReplay",
    ):
        super().__init__(name=name)
        obs_shape = data_spec.observation.shape.as_list()
        if len(obs_shape) != 3 or obs_shape[-1] % frames_per_observation:
            raise ValueError(
                f"FrameReplay needs [H, W, C] observations with C a multiple of "
                f"{frames_per_observation} frames, got {obs_shape}"
            )
        if capacity // num_envs < 2:
            raise ValueError(
                f"DqnConfig.replay_capacity must be >= 2 * num_envs ({2 * num_envs}), got {capacity}"
            )
        self._spec = data_spec
        self._streams = int(num_envs)
        self._rows = int(capacity) // self._streams
        self._capacity = stored_transitions(int(capacity), self._streams)
        self._stack = int(frames_per_observation)
        self.frame_shape = (*obs_shape[:2], obs_shape[-1] // self._stack)
        self.nbytes = self._capacity * bytes_per_transition(self.frame_shape)

        def zeros(shape, dtype, name):
            return tf.Variable(tf.zeros(shape, dtype), trainable=False, name=name)

        # On the CPU: host memory is the larger, and uint8 gathers run there everywhere.
        with tf.device(device):
            self._frames = zeros([self._capacity, *self.frame_shape], tf.uint8, "frames")
            self._action = zeros([self._capacity], tf.int32, "action")
            self._reward = zeros([self._capacity], tf.float32, "reward")
            self._discount = zeros([self._capacity], tf.float32, "discount")
            self._step_type = zeros([self._capacity], tf.uint8, "step_type")
            self._next_step_type = zeros([self._capacity], tf.uint8, "next_step_type")
            # Row of the step that began the episode (the stream's own rows).
            self._episode_start = zeros([self._capacity], tf.int64, "episode_start")
            self._count = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="count")
        logging.info(
            "FrameReplay: %d transitions x %d bytes = %.1f MiB (%s frames, stack of %d, %d streams)",
            self._capacity,
            bytes_per_transition(self.frame_shape),
            self.nbytes / 2**20,
            "x".join(map(str, self.frame_shape)),
            self._stack,
            self._streams,
        )

    @property
    def capacity(self) -> int:
        """Transitions kept before the oldest are overwritten."""
        return self._capacity

    def num_frames(self) -> tf.Tensor:
        """Transitions added so far (not capped at capacity)."""
        return self._count.read_value() * self._streams

    def _slots(self, rows: tf.Tensor, streams: tf.Tensor) -> tf.Tensor:
        """Flat slots of (row, stream) pairs (broadcast)."""
        return (rows % self._rows) * self._streams + streams

    def add_batch(self, traj: trajectory.Trajectory) -> tf.Operation:
        """Stores one row: the step of each stream (batch of `num_envs`), newest frame only."""
        row = self._count.read_value()
        streams = tf.range(self._streams, dtype=tf.int64)
        slots = self._slots(row, streams)
        first = tf.equal(traj.step_type, tf.constant(0, traj.step_type.dtype))
        # The previous row's episode start carries on unless this step begins one
        # (the first row always does: envs start with a reset).
        carried = tf.gather(self._episode_start, self._slots(row - 1, streams))
        start = tf.where(first, row, carried)
        frames = traj.observation[..., -self.frame_shape[-1] :]

        def put(var, value):
            return var.scatter_update(tf.IndexedSlices(tf.cast(value, var.dtype), slots))

        updates = [
            put(self._frames, frames),
            put(self._action, traj.action),
            put(self._reward, traj.reward),
            put(self._discount, traj.discount),
            put(self._step_type, traj.step_type),
            put(self._next_step_type, traj.next_step_type),
            put(self._episode_start, start),
        ]
        with tf.control_dependencies(updates):
            return self._count.assign_add(1)

    def get_next(
        self, sample_batch_size: int, num_steps: int
    ) -> tuple[trajectory.Trajectory, tuple]:
        """`sample_batch_size` windows of `num_steps` consecutive steps of one stream, uniformly.

        Windows lie within the kept rows and start at least `stack - 1` rows
        after the oldest, so every frame a stacked observation needs is kept.
        """
        count = self._count.read_value()
        oldest = tf.maximum(count - self._rows, 0)
        low = oldest + self._stack - 1
        high = count - num_steps  # last valid window start
        with tf.control_dependencies(
            [
                tf.debugging.assert_greater_equal(
                    high, low, message="FrameReplay: too few steps stored to sample from"
                )
            ]
        ):
            starts = tf.random.uniform([sample_batch_size], low, high + 1, dtype=tf.int64)  # [B]
        if self._streams > 1:
            streams = tf.random.uniform([sample_batch_size], 0, self._streams, dtype=tf.int64)
        else:  # no extra random op: one stream draws exactly what it always drew
            streams = tf.zeros([sample_batch_size], tf.int64)
        rows = starts[:, None] + tf.range(num_steps, dtype=tf.int64)[None, :]  # [B, T]
        slots = self._slots(rows, streams[:, None])
        episode_start = tf.gather(self._episode_start, slots)
        lags = tf.range(self._stack - 1, -1, -1, dtype=tf.int64)  # oldest frame first
        frame_rows = tf.maximum(rows[..., None] - lags, episode_start[..., None])  # [B, T, stack]
        frames = tf.gather(self._frames, self._slots(frame_rows, streams[:, None, None]))
        # [B, T, stack, H, W, c] -> [B, T, H, W, stack * c]
        frames = tf.transpose(frames, [0, 1, 3, 4, 2, 5])
        h, w, c = self.frame_shape
        observation = tf.reshape(frames, [sample_batch_size, num_steps, h, w, self._stack * c])

        spec = self._spec

        def field(var, spec_field):
            return tf.cast(tf.gather(var, slots), spec_field.dtype)

        experience = trajectory.Trajectory(
            step_type=field(self._step_type, spec.step_type),
            observation=tf.cast(observation, spec.observation.dtype),
            action=field(self._action, spec.action),
            policy_info=spec.policy_info,
            next_step_type=field(self._next_step_type, spec.next_step_type),
            reward=field(self._reward, spec.reward),
            discount=field(self._discount, spec.discount),
        )
        return experience, ()
