"""Peak memory of a DQN run against its step count: the replay memory is allocated
for what the run can fill (min of the preset's capacity and the steps), so a
short run of a 1M-frame preset no longer takes gigabytes.

Each step count trains in a fresh process (the env's preset, default
ALE/Pong-v5: replay capacity 1,000,000 frames, learning from step 80,000, so
these runs only collect) and reports its replay memory and its peak resident
memory (VmHWM). Printed: per run, the replay MiB allocated, the MiB the
preset's full capacity would take, the peak MiB; then the ratio of the peaks
of the longest and shortest runs against the ratio of their step counts.
Evaluation is cut to one episode of at most 2,000 frames so the figure is
about collection.

Usage: TF_USE_LEGACY_KERAS=1 python bench/dqn_memory.py [--env ALE/Pong-v5] [--steps 1000 4000]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile


def _peak_rss_mib() -> float:
    """This process's peak resident memory (Linux VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status (Linux only)")


def child(env_id: str, steps: int) -> None:
    """Trains `steps` env steps of `env_id`'s preset; prints replay and peak MiB as JSON."""
    import dataclasses

    from models.dqn.config import preset
    from models.dqn.gym_envs import frames_per_observation, make_gym
    from models.dqn.memory import bytes_per_transition
    from models.dqn.train import train

    config = dataclasses.replace(
        preset(env_id), eval_episodes=1, max_episode_frames=2_000, stop_at_threshold=False
    )
    env = make_gym(env_id)
    shape = env.observation_space.shape
    env.close()
    frame = (*shape[:2], shape[-1] // frames_per_observation(env_id))
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(env_id, config, 0, steps, run_dir, progress=False)
    full_mib = config.replay_capacity * bytes_per_transition(frame) / 2**20
    print(
        json.dumps(
            {
                "steps": steps,
                "replay_transitions": result.replay_transitions,
                "replay_mib": result.replay_mib,
                "full_capacity_mib": full_mib,
                "peak_mib": _peak_rss_mib(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="ALE/Pong-v5")
    parser.add_argument("--steps", type=int, nargs="+", default=[1_000, 4_000])
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        child(args.env, args.child)
        return
    rows = []
    for steps in args.steps:
        out = subprocess.run(
            [sys.executable, __file__, "--env", args.env, "--child", str(steps)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{args.env}, {steps} steps: replay {r['replay_transitions']} transitions, "
            f"{r['replay_mib']:.1f} MiB (the preset's full capacity: {r['full_capacity_mib']:.0f} "
            f"MiB); peak {r['peak_mib']:.0f} MiB",
            flush=True,
        )
    low, high = rows[0], rows[-1]
    print(
        f"peak {high['steps']} / {low['steps']} steps: {high['peak_mib'] / low['peak_mib']:.2f}x "
        f"(steps {high['steps'] / low['steps']:.1f}x); shortest run's peak / full-capacity "
        f"replay: {low['peak_mib'] / low['full_capacity_mib']:.3f}"
    )


if __name__ == "__main__":
    main()
