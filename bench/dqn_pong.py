"""Atari Pong from pixels: the GPU protocol, and a short CPU learning-signal check.

Protocol (issue 12), meant for a GPU machine: `ALE/Pong-v5` (sticky actions
0.25, full 84x84 grayscale preprocessing with frame skip 4 and a 4-frame
stack, see models/dqn/gym_envs.py) with the `ALE/Pong-v5` preset of
models/dqn/config.py (CleanRL's dqn_atari settings: Nature CNN, Adam 1e-4,
replay 1M frames stored once each, ~7 GB of host memory), a 10M agent-step
budget, evaluation every 250k steps over 10 episodes at epsilon 0.01 capped
at 108k frames. Target: mean return >= 18 by 4M steps (CleanRL's DQN reaches
20.25 and rl-baselines3-zoo's 20.6 at 10M on PongNoFrameskip-v4). This has
not been run on a GPU yet.

`--num-envs N` steps N copies of Pong as one batch, the policy acting on all
of them in one call ('auto', the default: 8 with a GPU, 1 without); the
10M-step budget, epsilon schedule and update ratio (one update per 4 agent
steps) stay counted in agent steps over all copies. With a GPU of compute
capability >= 7.0 the Q-network runs in mixed precision (DqnConfig.mixed_precision).
The replay memory (6.6 GiB) is not saved in checkpoints; a resumed run refills
it for 80k steps before training again.

`--check` runs a few thousand steps on the CPU with a small replay and an
early learning start, to show the pixel path runs on Atari: the loss is
finite, and agent steps/s are printed (the Nature CNN update costs ~23 ms
per batch of 32 on these CPUs, so Atari shows no learning in CPU minutes).

Usage: TF_USE_LEGACY_KERAS=1 python bench/dqn_pong.py --check [--steps 3000] [--num-envs N]
       TF_USE_LEGACY_KERAS=1 python bench/dqn_pong.py [--steps 10000000] [--seed 0]
           [--num-envs auto|N] --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import tempfile

from models.dqn.config import DqnConfig, preset

ENV_ID = "ALE/Pong-v5"
TARGET_RETURN = 18.0
TARGET_STEP = 4_000_000


def logged_losses(log_dir: str) -> list[float]:
    """The train/loss scalars the training loop wrote to TensorBoard."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    losses = []
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == "train/loss":
                    losses.append(float(tf.make_ndarray(value.tensor)))
    return losses


def pong_config(num_envs: str | None) -> DqnConfig:
    """The Pong preset, with `--num-envs` ('auto' or a count; DqnConfig checks it) if given."""
    if num_envs is None:
        return preset(ENV_ID)
    value = int(num_envs) if num_envs.lstrip("-").isdigit() else num_envs
    return dataclasses.replace(preset(ENV_ID), num_envs=value)


def check(steps: int, num_envs: str | None) -> None:
    """A short CPU run: runs end to end, finite loss, steps/s."""
    from models.dqn.train import train

    config = dataclasses.replace(
        pong_config(num_envs),
        replay_capacity=10_000,
        learning_starts=steps // 3,
        epsilon_decay_steps=steps,
        eval_interval=10 * steps,
        eval_episodes=1,
        max_episode_frames=4_000,
    )
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(ENV_ID, config, 0, steps, run_dir, log_dir=run_dir, progress=False)
        losses = logged_losses(run_dir)
    finite = bool(losses) and all(math.isfinite(x) for x in losses)
    print(
        f"{ENV_ID} CPU check: {result.env_steps} agent steps on num_envs={config.num_envs} "
        f"({config.learning_starts} random, then one update every {config.train_freq}), "
        f"{result.steps_per_second:.0f} agent steps/s wall, "
        f"{result.env_steps / result.train_cpu_seconds:.0f} per CPU s; "
        f"{len(losses)} loss values, all finite: {finite}, first {losses[0] if losses else '-'} "
        f"last {losses[-1] if losses else '-'}; eval return (1 episode, 4k frames) "
        f"{result.history[-1]['mean_return']:.1f}; load average {os.getloadavg()[0]:.1f}"
    )


def full_run(steps: int, seed: int, out: str, num_envs: str | None) -> None:
    """The GPU protocol: trains and evaluates, writes <out>/pong_seed<N>.json."""
    from models.dqn.train import train

    os.makedirs(out, exist_ok=True)
    config = pong_config(num_envs)
    result = train(ENV_ID, config, seed, steps, os.path.join(out, f"run_seed{seed}"))
    by_target = [h["mean_return"] for h in result.history if h["env_step"] <= TARGET_STEP]
    best = max(by_target) if by_target else float("nan")
    print(
        f"{ENV_ID} seed {seed}: best mean return by {TARGET_STEP:_} steps {best:.2f} "
        f"(target >= {TARGET_RETURN}); final {result.history[-1]['mean_return']:.2f} at "
        f"{result.env_steps:_} steps; {result.steps_per_second:.0f} agent steps/s, num_envs={config.num_envs}"
    )
    with open(os.path.join(out, f"pong_seed{seed}.json"), "w") as f:
        json.dump(dataclasses.asdict(result), f, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="short CPU learning-signal check")
    parser.add_argument("--steps", type=int, default=None, help="agent steps (10M; 3000 --check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench_out/pong", help="results folder (full run)")
    parser.add_argument(
        "--num-envs",
        default=None,
        help="Pong copies stepped as one batch, 'auto' or a count "
        "(default: the preset's DqnConfig.num_envs, 'auto': 8 with a GPU, 1 without)",
    )
    args = parser.parse_args()
    if args.check:
        check(args.steps or 3_000, args.num_envs)
    else:
        full_run(args.steps or 10_000_000, args.seed, args.out, args.num_envs)


if __name__ == "__main__":
    main()
