"""DQN hyperparameters: one frozen dataclass, defaults that solve CartPole-v1,
and named presets per environment."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from models.fields import normalize, problems, setting

NETWORKS = ("auto", "mlp", "nature", "minatar")
MIXED_PRECISION = ("auto", "on", "off")
GPU_NUM_ENVS = 8
"""Envs stepped as one batch when `num_envs` is 'auto' and a GPU is present."""


@dataclasses.dataclass(frozen=True)
class DqnConfig:
    """Every hyperparameter of a DQN run (defaults solve CartPole-v1).

    The defaults follow rl-baselines3-zoo's tuned CartPole-v1 DQN settings,
    with the target network synced once per training phase as SB3 does in
    effect (it syncs every 10 env steps while collecting, then trains), plus
    Double DQN and 3-step returns (on earlier hosts seeds 0/1/2 solved in
    12.5k-15k env steps where one-step DQN needed 35k-40k), and a 128x128
    Q-network where the zoo has 256x256: over seeds 0-9 on a 2-core CPU it
    solved in a median 15k env steps and 16.5 s of training CPU, against 18.75k
    and 24.1 s with 256x256 (bench/dqn_solve.py --zoo-net, docs/performance.md).
    """

    double_dqn: bool = setting(True, kind=bool)
    """Double DQN (online net picks the next action, target net values it)."""
    hidden_units: tuple[int, ...] = setting((128, 128), kind=int, low=1, items=True)
    """Widths of the Q-network's fully connected ReLU layers (after the conv torso, if any)."""
    network: str = setting("auto", choices=NETWORKS)
    """Q-network torso: 'auto' picks from the observation shape ('mlp' for vectors,
    'nature' for images of side >= 36 such as 84x84 Atari, 'minatar' for small
    grids); or name one of 'mlp', 'nature', 'minatar' (models/dqn/agent.py)."""
    learning_rate: float = setting(2.3e-3, kind=float, low=0, high=1, low_open=True)
    """Adam learning rate."""
    gamma: float = setting(0.99, kind=float, low=0, high=1)
    """Discount factor."""
    n_step: int = setting(3, kind=int, low=1)
    """Steps of real reward before bootstrapping (1 = one-step TD)."""
    batch_size: int = setting(64, kind=int, low=1)
    """Transitions per gradient step."""
    replay_capacity: int = setting(100_000, kind=int, low=1)
    """Uniform replay buffer size in transitions."""
    learning_starts: int = setting(1_000, kind=int, low=0)
    """Uniform-random env steps collected before the first gradient step."""
    train_freq: int = setting(256, kind=int, low=1)
    """Env steps collected between training phases."""
    gradient_steps: int = setting(128, kind=int, low=1)
    """Gradient steps per training phase."""
    target_update_period: int = setting(128, kind=int, low=1)
    """Gradient steps between target-network updates."""
    target_update_tau: float = setting(1.0, kind=float, low=0, high=1, low_open=True)
    """Target update mix (1.0 = hard copy)."""
    epsilon_start: float = setting(1.0, kind=float, low=0, high=1)
    """Exploration epsilon at env step 0."""
    epsilon_end: float = setting(0.04, kind=float, low=0, high=1)
    """Exploration epsilon after the decay."""
    epsilon_decay_steps: int = setting(8_000, kind=int, low=0)
    """Env steps over which epsilon falls linearly from start to end."""
    gradient_clipping: float = setting(10.0, kind=float, low=0, why="(0 disables)")
    """Global gradient norm clip (0 disables)."""
    eval_interval: int = setting(2_500, kind=int, low=1)
    """Env steps between greedy evaluations (and checkpoints)."""
    eval_episodes: int = setting(20, kind=int, low=1)
    """Greedy episodes per evaluation, run as one batch."""
    eval_epsilon: float = setting(0.0, kind=float, low=0, high=1)
    """Random-action probability while evaluating (0.01 or 0.05 is the Atari protocol;
    it also breaks the loops a purely greedy pixel policy can get stuck in)."""
    max_episode_frames: int = setting(0, kind=int, low=0, why="(0: the env's limit)")
    """Truncate training and evaluation episodes after this many emulator frames
    (0: the env's own limit)."""
    stop_at_threshold: bool = setting(True, kind=bool)
    """Stop once an evaluation reaches the env's reward threshold."""
    deterministic: bool = setting(True, kind=bool)
    """TensorFlow op determinism on (models/reproducibility.py), so one seed repeats
    its learning curve in every process, on GPUs too. Python, NumPy and TensorFlow are
    seeded from the run's seed either way; False only lets ops pick faster,
    run-to-run varying kernels (on CPU the seeds alone already repeat a run)."""
    num_envs: int | str = setting("auto", kind=int, low=1, also=("auto",))
    """Copies of the env stepped as one batch, the policy acting on all in one call;
    'auto' is 1 without a GPU and GPU_NUM_ENVS (8) with one. Every env step counts as
    an agent step: budgets, epsilon, learning_starts and eval_interval stay in env
    steps summed over the copies, and with more copies than train_freq a vector step
    is followed by gradient_steps * num_envs / train_freq updates (the same updates
    per env step)."""
    mixed_precision: str = setting("auto", choices=MIXED_PRECISION)
    """Q-network compute in float16 with float32 variables, Q-values and loss, and a
    dynamic loss scale: 'auto' turns it on only with a GPU of compute capability
    >= 7.0 (where float16 runs on tensor cores), 'on' forces it, 'off' never."""
    replay_checkpoint_limit_mb: int = setting(1_024, kind=int, low=0, why="(0: never)")
    """Replay memories up to this many MiB are saved in every checkpoint; larger ones
    (the Pong preset's 6.6 GiB) are not, and a resumed run refills its memory for
    learning_starts steps before training again (0: never saved)."""

    def to_json(self) -> str:
        """Serialises the config (keys sorted) for component parameters."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DqnConfig:
        """Parses `to_json` output; unknown keys are an error, missing ones default."""
        raw = json.loads(text) if text else {}
        if not isinstance(raw, dict):
            raise ValueError(f"DQN config JSON must be an object, got {type(raw).__name__}")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DqnConfig:
        """Builds a config from a dict, checking the keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(
                f"unknown DQN config field(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**raw)

    def fingerprint(self) -> str:
        """Short stable hash of the config, used to key checkpoint folders."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def __post_init__(self) -> None:
        normalize(self)
        found = problems(self)
        if not found and self.replay_capacity < self.batch_size:
            found.append(f"replay_capacity must be >= batch_size, got {self.replay_capacity}")
        if not found and self.epsilon_end > self.epsilon_start:
            found.append(
                "epsilon_end must be <= epsilon_start, got "
                f"{self.epsilon_start} -> {self.epsilon_end}"
            )
        if found:
            raise ValueError("; ".join(f"DqnConfig.{p}" for p in found))


def resolve_num_envs(num_envs: int | str, has_gpu: bool) -> int:
    """`DqnConfig.num_envs` as a count: 'auto' is GPU_NUM_ENVS with a GPU, else 1."""
    if num_envs == "auto":
        return GPU_NUM_ENVS if has_gpu else 1
    return int(num_envs)


def resolve_mixed_precision(setting: str, fast_float16_gpu: bool) -> bool:
    """`DqnConfig.mixed_precision` as a switch: 'auto' is on only with a GPU that
    runs float16 fast (compute capability >= 7.0)."""
    return setting == "on" or (setting == "auto" and fast_float16_gpu)


# Presets for other classic-control tasks (rl-baselines3-zoo's tuned values
# where they exist). The default config is the CartPole-v1 preset.
PRESETS: dict[str, DqnConfig] = {
    "CartPole-v1": DqnConfig(),
    "Acrobot-v1": DqnConfig(
        hidden_units=(256, 256),
        learning_rate=6.3e-4,
        batch_size=128,
        replay_capacity=50_000,
        learning_starts=0,
        train_freq=4,
        gradient_steps=4,
        target_update_period=62,
        epsilon_end=0.1,
        epsilon_decay_steps=12_000,
        eval_interval=10_000,
    ),
    # MinAtar (Young & Tian 2019, "MinAtar: An Atari-Inspired Testbed", DQN
    # settings of its Table 2): the one-conv network with a 128-unit layer,
    # batch 32, replay 100k, target sync every 1000 updates, gamma 0.99,
    # epsilon 1 -> 0.1 over the first 100k frames, 5000 random frames before
    # learning, one update per frame (done as 4 updates every 4 frames, which
    # keeps the ratio and runs the loop in fewer Python calls). Differences:
    # Adam at 1e-4 instead of RMSProp 2.5e-4, Double DQN and 3-step returns
    # (Ceron & Castro 2021, "Revisiting Rainbow", found Adam and n-step the
    # two components that help most on MinAtar). Evaluation at epsilon 0.01
    # (CleanRL's and the Atari protocol's), episodes capped at 100k frames.
    "MinAtar/Breakout-v1": DqnConfig(
        network="minatar",
        hidden_units=(128,),
        learning_rate=1e-4,
        gamma=0.99,
        n_step=3,
        batch_size=32,
        replay_capacity=100_000,
        learning_starts=5_000,
        train_freq=4,
        gradient_steps=4,
        target_update_period=1_000,
        epsilon_end=0.1,
        epsilon_decay_steps=100_000,
        gradient_clipping=10.0,
        eval_interval=50_000,
        eval_episodes=30,
        eval_epsilon=0.01,
        max_episode_frames=100_000,
    ),
    # Atari Pong, CleanRL's dqn_atari (itself the Nature DQN protocol, Mnih et
    # al. 2015, with Adam): Nature CNN with a 512-unit layer, Adam 1e-4, batch
    # 32, replay 1M frames (stored once each: about 7 GB), 80k random steps,
    # one update every 4 steps, target sync every 1000 steps (250 updates),
    # epsilon 1 -> 0.01 over 1M steps (10% of the 10M budget), one-step
    # targets, Huber loss, evaluation at epsilon 0.01 (CleanRL's 0.05 is
    # the older protocol), episodes capped at 108k frames (30 minutes,
    # Machado et al. 2018).
    "ALE/Pong-v5": DqnConfig(
        double_dqn=False,
        network="nature",
        hidden_units=(512,),
        learning_rate=1e-4,
        gamma=0.99,
        n_step=1,
        batch_size=32,
        replay_capacity=1_000_000,
        learning_starts=80_000,
        train_freq=4,
        gradient_steps=1,
        target_update_period=250,
        epsilon_end=0.01,
        epsilon_decay_steps=1_000_000,
        gradient_clipping=10.0,
        eval_interval=250_000,
        eval_episodes=10,
        eval_epsilon=0.01,
        max_episode_frames=108_000,
        stop_at_threshold=False,
    ),
    "MountainCar-v0": DqnConfig(
        hidden_units=(256, 256),
        learning_rate=4e-3,
        batch_size=128,
        replay_capacity=10_000,
        learning_starts=1_000,
        train_freq=16,
        gradient_steps=8,
        target_update_period=75,
        epsilon_end=0.07,
        epsilon_decay_steps=24_000,
        eval_interval=10_000,
    ),
}


def preset(env_id: str) -> DqnConfig:
    """The named preset for `env_id`, or the default config if there is none."""
    return PRESETS.get(env_id, DqnConfig())
