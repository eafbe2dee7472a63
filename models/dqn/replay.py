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
"""

from __future__ import annotations

import logging

import tensorflow as tf
from tf_agents.trajectories import trajectory

from models.dqn.memory import bytes_per_transition


class FrameReplay(tf.Module):
    """Uniform replay over one env's steps, each frame stored once (uint8).

    Same calls as TFUniformReplayBuffer as the training loop uses them:
    `add_batch(traj)` with a batch of one, and `get_next(sample_batch_size,
    num_steps)` returning `num_steps` consecutive trajectories per sample.
    """

    def __init__(
        self,
        data_spec: trajectory.Trajectory,
        capacity: int,
        frames_per_observation: int,
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
        self._spec = data_spec
        self._capacity = int(capacity)
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
            self._episode_start = zeros([self._capacity], tf.int64, "episode_start")
            self._count = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="count")
            self._current_start = tf.Variable(
                tf.constant(0, tf.int64), trainable=False, name="current_episode_start"
            )
        logging.info(
            "FrameReplay: %d transitions x %d bytes = %.1f MiB (%s frames, stack of %d)",
            self._capacity,
            bytes_per_transition(self.frame_shape),
            self.nbytes / 2**20,
            "x".join(map(str, self.frame_shape)),
            self._stack,
        )

    @property
    def capacity(self) -> int:
        """Transitions kept before the oldest are overwritten."""
        return self._capacity

    def num_frames(self) -> tf.Tensor:
        """Transitions added so far (not capped at capacity)."""
        return self._count.read_value()

    def add_batch(self, traj: trajectory.Trajectory) -> tf.Operation:
        """Stores one step of a batch-of-one trajectory; keeps only its newest frame."""
        position = self._count.read_value()
        slot = tf.reshape(position % self._capacity, [1])
        first = tf.equal(traj.step_type[0], tf.constant(0, traj.step_type.dtype))
        start = tf.where(first, position, self._current_start.read_value())
        frame = traj.observation[0, ..., -self.frame_shape[-1] :]

        def put(var, value):
            return var.scatter_update(tf.IndexedSlices(tf.cast([value], var.dtype), slot))

        updates = [
            put(self._frames, frame),
            put(self._action, traj.action[0]),
            put(self._reward, traj.reward[0]),
            put(self._discount, traj.discount[0]),
            put(self._step_type, traj.step_type[0]),
            put(self._next_step_type, traj.next_step_type[0]),
            put(self._episode_start, start),
            self._current_start.assign(start),
        ]
        with tf.control_dependencies(updates):
            return self._count.assign_add(1)

    def get_next(
        self, sample_batch_size: int, num_steps: int
    ) -> tuple[trajectory.Trajectory, tuple]:
        """`sample_batch_size` windows of `num_steps` consecutive steps, uniformly.

        Windows lie within the kept steps and start at least `stack - 1` steps
        after the oldest, so every frame a stacked observation needs is kept.
        """
        count = self._count.read_value()
        oldest = tf.maximum(count - self._capacity, 0)
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
        positions = starts[:, None] + tf.range(num_steps, dtype=tf.int64)[None, :]  # [B, T]
        slots = positions % self._capacity
        episode_start = tf.gather(self._episode_start, slots)
        lags = tf.range(self._stack - 1, -1, -1, dtype=tf.int64)  # oldest frame first
        frame_positions = tf.maximum(
            positions[..., None] - lags, episode_start[..., None]
        )  # [B, T, stack]
        frames = tf.gather(self._frames, frame_positions % self._capacity)
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
