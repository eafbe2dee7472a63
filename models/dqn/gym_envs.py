"""Gymnasium environments for DQN, built without TensorFlow: any id with
discrete actions and a vector or image observation, Atari (ALE) with the
standard DQN preprocessing, and MinAtar by id.

Atari follows the Nature DQN protocol as CleanRL's dqn_atari applies it to
gymnasium: noop reset (up to 30), frame skip 4 with max-pooling of the last
two frames, 84x84 grayscale, a 4-frame stack, fire on reset for games that
need it, and, in training only, one life per episode and rewards clipped to
their sign. Observations are uint8 [H, W, C] with the newest frame last.
"""

from __future__ import annotations

import contextlib
import logging

import gymnasium as gym
import numpy as np

ATARI_FRAME_SKIP = 4
ATARI_FRAME_STACK = 4
ATARI_SCREEN_SIZE = 84
ATARI_NOOP_MAX = 30


def is_atari(env_id: str) -> bool:
    """True for ALE ids ('ALE/Pong-v5') and the old '...NoFrameskip-v4' spellings."""
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def is_minatar(env_id: str) -> bool:
    """True for MinAtar ids ('MinAtar/Breakout-v1')."""
    return env_id.startswith("MinAtar/")


def frame_skip(env_id: str) -> int:
    """Emulator frames per agent step (4 for Atari, 1 otherwise)."""
    return ATARI_FRAME_SKIP if is_atari(env_id) else 1


def register(env_id: str) -> None:
    """Registers the gymnasium ids of ALE or MinAtar when `env_id` needs them."""
    if is_atari(env_id):
        import ale_py

        gym.register_envs(ale_py)
    elif is_minatar(env_id) and env_id not in gym.registry:
        # minatar warns at import that seaborn (only its renderer needs it) is
        # missing, which reads as if pixel training could not work.
        with _quiet_root_logger():
            import minatar.gym

        minatar.gym.register_envs()


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class EpisodicLife(gym.Wrapper):
    """Ends the episode on a life loss; the next reset only steps a no-op
    until the game is really over (DQN's training protocol, as in SB3)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._lives = 0
        self._game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self._game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self._lives = self.env.unwrapped.ale.lives()
        self._game_over = False
        return obs, info


class FireReset(gym.Wrapper):
    """Presses FIRE after each reset, for games that wait for it (Pong, Breakout)."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        return obs, info


def _channels_last(env: gym.Env) -> gym.Env:
    """[stack, H, W] -> [H, W, stack] uint8 (the newest frame last)."""
    space = env.observation_space
    new_space = gym.spaces.Box(0, 255, shape=(*space.shape[1:], space.shape[0]), dtype=np.uint8)
    return gym.wrappers.TransformObservation(
        env, lambda obs: np.moveaxis(np.asarray(obs), 0, -1), new_space
    )


def make_atari(env_id: str, training: bool) -> gym.Env:
    """An ALE env with the DQN preprocessing; `training` adds episodic life
    and reward clipping."""
    register(env_id)
    kwargs = {"frameskip": 1} if env_id.startswith("ALE/") else {}
    env = gym.make(env_id, **kwargs)
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=ATARI_NOOP_MAX,
        frame_skip=ATARI_FRAME_SKIP,
        screen_size=ATARI_SCREEN_SIZE,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    if training:
        env = EpisodicLife(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    if training:
        env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    env = gym.wrappers.FrameStackObservation(env, ATARI_FRAME_STACK)
    return _channels_last(env)


def make_minatar(env_id: str) -> gym.Env:
    """A MinAtar env by id, its boolean [10, 10, C] grid as uint8 0/1."""
    register(env_id)
    env = gym.make(env_id)
    space = env.observation_space
    return gym.wrappers.TransformObservation(
        env,
        lambda obs: np.asarray(obs, dtype=np.uint8),
        gym.spaces.Box(0, 1, shape=space.shape, dtype=np.uint8),
    )


def make_gym(env_id: str, training: bool = False, max_episode_frames: int = 0) -> gym.Env:
    """The env for `env_id`, checked to be discrete-action with a vector
    (1-D) or image ([H, W, C] uint8) observation.

    Atari ids get the DQN preprocessing (`training` adds episodic life and
    reward clipping); MinAtar ids give uint8 grids. `max_episode_frames` > 0
    truncates episodes after that many emulator frames (frame skip counted).
    """
    try:
        if is_atari(env_id):
            env = make_atari(env_id, training)
        elif is_minatar(env_id):
            env = make_minatar(env_id)
        else:
            env = gym.make(env_id)
    except gym.error.Error as err:
        raise ValueError(f"unknown gymnasium environment id {env_id!r}: {err}") from err
    if not isinstance(env.action_space, gym.spaces.Discrete):
        env.close()
        raise ValueError(f"{env_id}: DQN needs a Discrete action space, got {env.action_space}")
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or not (
        len(space.shape) == 1 or (len(space.shape) == 3 and space.dtype == np.uint8)
    ):
        env.close()
        raise ValueError(
            f"{env_id}: expected a 1-D Box or a uint8 [H, W, C] image observation, got {space}"
        )
    if max_episode_frames > 0:
        env = gym.wrappers.TimeLimit(env, max(1, max_episode_frames // frame_skip(env_id)))
    return env


def check_registered(env_id: str) -> None:
    """Raises ValueError unless `env_id` is a registered gymnasium id (ALE and MinAtar
    ids registered first, as `make_gym` does); no environment is created."""
    try:
        register(env_id)
        gym.spec(env_id)
    except ImportError as err:
        raise ValueError(f"{env_id!r} needs the {err.name} package installed") from err
    except gym.error.Error as err:
        raise ValueError(f"unknown gymnasium environment id {env_id!r}: {err}") from err


def is_image(space: gym.spaces.Box) -> bool:
    """True for an image observation space ([H, W, C])."""
    return len(space.shape) == 3


def reward_threshold(env_id: str) -> float | None:
    """The environment's registered solve threshold (475 for CartPole-v1), if any."""
    register(env_id)
    return gym.spec(env_id).reward_threshold


def frames_per_observation(env_id: str) -> int:
    """How many frames an observation stacks along its last axis (4 for Atari)."""
    return ATARI_FRAME_STACK if is_atari(env_id) else 1
