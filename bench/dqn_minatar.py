"""DQN from pixels on MinAtar Breakout-v1: learning curve and loop overhead.

Protocol (issue 12): the `MinAtar/Breakout-v1` preset of models/dqn/config.py
trained by the pipeline's own loop (models.dqn.train.train) for 300k agent
steps per seed, seeds 0, 1, 2; every 50k steps 30 evaluation episodes at
epsilon 0.01 on separate seeds. Target: mean return >= 8 at 300k (the MinAtar
paper's DQN, Young & Tian 2019, is about 8 at 0.3M frames and about 10 at 5M,
read from its learning curve).

Speed: agent steps per second of the pipeline's loop against a bare TF loop
in the same process (same Q-network, batch, Double-DQN target, Adam, one
update per step after the same warm-up; plain NumPy replay, env stepped in
Python, CleanRL's shape), over `--speed-steps` steps each, in process CPU
seconds (wall seconds move with other jobs on the cores; both are printed).
Target ratio >= 0.9.

Each seed's result is written to <out>/seed<N>.json, so seeds can run in
separate processes; the table and the PNG learning curve cover every seed
file in <out> (`--report-only` redraws them).

Usage: TF_USE_LEGACY_KERAS=1 python bench/dqn_minatar.py [--seeds 0 1 2]
       [--steps 300000] [--speed-steps 4000] [--out bench_out/minatar]
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import tempfile
import time

import numpy as np

from contracts.files import EVAL_HISTORY_FILE
from models.dqn.config import DqnConfig, preset

ENV_ID = "MinAtar/Breakout-v1"
TARGET_RETURN = 8.0
TARGET_RATIO = 0.9


def learning_run(config: DqnConfig, seed: int, steps: int, out: str) -> dict:
    """Trains one seed with the pipeline's loop; writes and returns its curve."""
    from models.dqn.train import train

    # Kept: its eval history grows at every evaluation, and a rerun resumes.
    run_dir = os.path.join(out, f"run_seed{seed}")
    result = train(ENV_ID, config, seed, steps, run_dir, progress=False)
    row = {
        "seed": seed,
        "steps": result.env_steps,
        "train_seconds": result.train_seconds,
        "train_cpu_seconds": result.train_cpu_seconds,
        "eval_seconds": result.eval_seconds,
        "history": result.history,
    }
    with open(os.path.join(out, f"seed{seed}.json"), "w") as f:
        json.dump(row, f, indent=1)
    return row


def pipeline_speed(config: DqnConfig, steps: int) -> tuple[float, float]:
    """(steps per CPU second, steps per wall second) of the pipeline's loop."""
    from models.dqn.train import train

    quick = dataclasses.replace(config, eval_interval=10 * steps, eval_episodes=1)
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(ENV_ID, quick, 0, steps, run_dir, progress=False)
    return steps / result.train_cpu_seconds, steps / result.train_seconds


def bare_speed(config: DqnConfig, steps: int) -> tuple[float, float]:
    """(steps per CPU second, steps per wall second) of a bare TF DQN loop."""
    import tensorflow as tf
    import tf_keras
    from tf_agents.specs import tensor_spec

    from models.dqn.agent import build_q_network
    from models.dqn.gym_envs import make_gym

    env = make_gym(ENV_ID, training=True)
    shape, actions = env.observation_space.shape, int(env.action_space.n)
    obs_spec = tensor_spec.BoundedTensorSpec(shape, tf.uint8, 0, 1)
    action_spec = tensor_spec.BoundedTensorSpec([], tf.int64, 0, actions - 1)
    q_net = build_q_network(obs_spec, action_spec, config.hidden_units, config.network)
    target = q_net.copy(name="Target")
    q_net.create_variables()
    target.create_variables()
    optimizer = tf_keras.optimizers.Adam(config.learning_rate)
    cap = config.replay_capacity
    store = {
        "obs": np.zeros((cap, *shape), np.uint8),
        "next": np.zeros((cap, *shape), np.uint8),
        "action": np.zeros(cap, np.int64),
        "reward": np.zeros(cap, np.float32),
        "done": np.zeros(cap, np.float32),
    }

    @tf.function
    def greedy(obs):
        return tf.argmax(q_net(obs[None])[0], axis=-1)[0]

    @tf.function
    def update(obs, action, reward, next_obs, done):
        next_online = tf.argmax(q_net(next_obs)[0], axis=-1)
        next_q = tf.gather(target(next_obs)[0], next_online, batch_dims=1)
        y = reward + config.gamma * (1.0 - done) * next_q
        with tf.GradientTape() as tape:
            q = tf.gather(q_net(obs, training=True)[0], action, batch_dims=1)
            loss = tf.reduce_mean(tf_keras.losses.huber(y[:, None], q[:, None]))
        grads = tape.gradient(loss, q_net.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, config.gradient_clipping)
        optimizer.apply_gradients(zip(grads, q_net.trainable_variables, strict=True))
        return loss

    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    warmup = min(config.learning_starts, steps // 4)
    started, cpu_started = time.perf_counter(), time.process_time()
    for step in range(steps):
        if step < warmup or rng.random() < config.epsilon_end:
            action = int(rng.integers(actions))
        else:
            action = int(greedy(obs))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = step % cap
        store["obs"][i], store["next"][i], store["action"][i] = obs, next_obs, action
        store["reward"][i], store["done"][i] = reward, float(terminated)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if step >= warmup and step % config.train_freq == 0:
            for _ in range(config.gradient_steps):
                idx = rng.integers(min(step + 1, cap), size=config.batch_size)
                batch = {k: tf.constant(v[idx]) for k, v in store.items()}
                update(batch["obs"], batch["action"], batch["reward"], batch["next"], batch["done"])
                if optimizer.iterations % config.target_update_period == 0:
                    for s, d in zip(q_net.variables, target.variables, strict=True):
                        d.assign(s)
    env.close()
    cpu, wall = time.process_time() - cpu_started, time.perf_counter() - started
    return steps / cpu, steps / wall


def report(out: str) -> None:
    """Prints the per-seed table and draws <out>/learning_curve.png."""
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "seed*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    done = {r["seed"] for r in rows}
    # Seeds still running: their eval history so far.
    for path in sorted(glob.glob(os.path.join(out, "run_seed*", EVAL_HISTORY_FILE))):
        seed = int(os.path.basename(os.path.dirname(path))[len("run_seed") :])
        with open(path) as f:
            history = json.load(f)
        if seed not in done and history:
            last = history[-1]
            rows.append(
                {"seed": seed, "steps": last["env_step"], "train_seconds": last["train_seconds"]}
                | {"history": history, "partial": True}
            )
    if not rows:
        print(f"no seed results in {out}")
        return
    points = sorted({int(h["env_step"]) for r in rows for h in r["history"]})
    print(f"\n{ENV_ID}: mean return over 30 episodes at epsilon 0.01 (target >= {TARGET_RETURN})")
    print("seed  " + "".join(f"{p // 1000:>7}k" for p in points) + "   steps/s (wall)")
    for r in rows:
        by_step = {int(h["env_step"]): h["mean_return"] for h in r["history"]}
        cells = "".join(f"{by_step[p]:8.2f}" if p in by_step else "       -" for p in points)
        partial = " (still running)" if r.get("partial") else ""
        print(f"{r['seed']:>4}  {cells}   {r['steps'] / r['train_seconds']:.0f}{partial}")
    finals = [r["history"][-1]["mean_return"] for r in rows if r["history"]]
    print(f"final mean over {len(finals)} seed(s): {np.mean(finals):.2f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        steps = [h["env_step"] for h in r["history"]]
        ax.plot(
            steps, [h["mean_return"] for h in r["history"]], marker="o", label=f"seed {r['seed']}"
        )
    ax.axhline(TARGET_RETURN, color="tab:red", linestyle="--", label="MinAtar paper DQN at 0.3M")
    ax.set_xlabel("agent steps")
    ax.set_ylabel("mean return (30 episodes, epsilon 0.01)")
    ax.set_title(f"DQN on {ENV_ID}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "learning_curve.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"learning curve: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300_000, help="agent steps per seed")
    parser.add_argument(
        "--speed-steps", type=int, default=4_000, help="steps per speed run (0 skips it)"
    )
    parser.add_argument("--out", default="bench_out/minatar", help="results folder")
    parser.add_argument("--report-only", action="store_true", help="redraw table and PNG")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    config = preset(ENV_ID)
    if not args.report_only:
        if args.speed_steps:
            speed_config = dataclasses.replace(config, learning_starts=args.speed_steps // 4)
            pipe_cpu, pipe_wall = pipeline_speed(speed_config, args.speed_steps)
            bare_cpu, bare_wall = bare_speed(speed_config, args.speed_steps)
            speed = {
                "pipeline_steps_per_cpu_s": pipe_cpu,
                "pipeline_steps_per_wall_s": pipe_wall,
                "bare_steps_per_cpu_s": bare_cpu,
                "bare_steps_per_wall_s": bare_wall,
                "ratio_cpu": pipe_cpu / bare_cpu,
                "ratio_wall": pipe_wall / bare_wall,
                "load_average": os.getloadavg()[0],
            }
            with open(os.path.join(args.out, "speed.json"), "w") as f:
                json.dump(speed, f, indent=1)
            print(
                f"agent steps/s over {args.speed_steps} steps: pipeline {pipe_cpu:.0f} per CPU s "
                f"({pipe_wall:.0f} wall), bare TF loop {bare_cpu:.0f} per CPU s ({bare_wall:.0f} "
                f"wall); ratio {speed['ratio_cpu']:.2f} CPU, {speed['ratio_wall']:.2f} wall "
                f"(target >= {TARGET_RATIO}); load average {speed['load_average']:.1f}",
                flush=True,
            )
        for seed in args.seeds:
            row = learning_run(config, seed, args.steps, args.out)
            last = row["history"][-1]
            print(
                f"seed {seed}: {row['steps']} steps, return {last['mean_return']:.2f} at the end, "
                f"{row['train_seconds']:.0f} s training",
                flush=True,
            )
    report(args.out)


if __name__ == "__main__":
    main()
