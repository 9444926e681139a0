"""Benchmark the memtasks data paths: episodes per second of each way to get episodes.

Measures, for each task (default kwargs: Copy 8 bits 1..20; RepeatCopy the DNC config), the
median over repeats of:
  - a single env (`gymnasium.make`, with its default wrappers), one episode after another;
  - `SyncVectorEnv` of 64 single envs (`make_vec(..., vectorization_mode="sync")`);
  - the native vector env of 64 (`make_vec(..., vectorization_mode="vector_entry_point")`);
  - the batch sampler (batches of 64 whole episodes);
and prints the native/sync ratio (goal >= 20x) and the cost of one DNC-size batch (16 episodes
of the default RepeatCopy) in microseconds, against a DNC training step of ~5-10 ms (goal < 2%).
Actions are fixed zeros, so the figures are the environments' cost alone.

    python scripts/bench_tasks.py            # about half a minute
    python scripts/bench_tasks.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import memtasks


def median_rate(measure, repeats: int) -> float:
    """Median of `repeats` calls of measure() -> (count, seconds), as count per second."""
    rates = []
    for _ in range(repeats):
        count, seconds = measure()
        rates.append(count / seconds)
    return statistics.median(rates)


def single_env_episodes(env_id: str, episodes: int):
    env = gym.make(env_id)
    action = np.zeros(env.action_space.n, dtype=np.int8)
    env.reset(seed=0)

    def measure():
        start = time.perf_counter()
        for _ in range(episodes):
            env.reset()
            terminated = False
            while not terminated:
                _, _, terminated, _, _ = env.step(action)
        return episodes, time.perf_counter() - start

    return measure


def longest_episode(env_id: str, episodes: int = 20) -> int:
    """Steps of the longest of a few episodes (a vector env must step past one to count it)."""
    env = gym.make(env_id)
    action = np.zeros(env.action_space.n, dtype=np.int8)
    longest = 0
    for seed in range(episodes):
        env.reset(seed=seed)
        steps, terminated = 0, False
        while not terminated:
            _, _, terminated, _, _ = env.step(action)
            steps += 1
        longest = max(longest, steps)
    return longest


def vector_env_episodes(env_id: str, mode: str, num_envs: int, steps: int):
    steps = max(steps, 2 * longest_episode(env_id))
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    actions = np.zeros((num_envs, env.single_action_space.n), dtype=np.int8)
    env.reset(seed=0)

    def measure():
        ended = 0
        start = time.perf_counter()
        for _ in range(steps):
            _, _, terminated, _, _ = env.step(actions)
            ended += int(terminated.sum())
        return ended, time.perf_counter() - start

    return measure


def sampler_episodes(env_id: str, batch_size: int, calls: int):
    # The task's pure batch sampler, the one the native vector env (and training) draws from.
    task = gym.make_vec(env_id, num_envs=batch_size, vectorization_mode="vector_entry_point").task
    rng = np.random.default_rng(0)

    def measure():
        start = time.perf_counter()
        for _ in range(calls):
            task.sample(rng, batch_size)
        return batch_size * calls, time.perf_counter() - start

    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per figure (median)")
    parser.add_argument("--num-envs", type=int, default=64, help="batch of the vector envs")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    repeats = args.repeats or (3 if args.quick else 7)
    batch = args.num_envs

    print(f"memtasks benchmark: batch {batch}, median of {repeats} repeats, zero actions")
    for env_id in memtasks.TASK_IDS:
        rates = {
            "single env": median_rate(single_env_episodes(env_id, int(300 * scale) + 5), repeats),
            f"SyncVectorEnv ({batch})": median_rate(
                vector_env_episodes(env_id, "sync", batch, int(100 * scale) + 5), repeats
            ),
            f"native vector env ({batch})": median_rate(
                vector_env_episodes(env_id, "vector_entry_point", batch, int(2000 * scale) + 20),
                repeats,
            ),
            f"batch sampler ({batch})": median_rate(
                sampler_episodes(env_id, batch, int(2000 * scale) + 20), repeats
            ),
        }
        print(f"\n{env_id} (default kwargs)")
        for name, rate in rates.items():
            print(f"  {name:<26} {rate:>12,.0f} episodes/s")
        sync, native = rates[f"SyncVectorEnv ({batch})"], rates[f"native vector env ({batch})"]
        print(f"  native / sync: {native / sync:.1f}x (goal >= 20x)")

    # One DNC training batch: 16 episodes of the default RepeatCopy.
    calls = int(5000 * scale) + 50
    per_batch = 1.0 / median_rate(sampler_episodes("memtasks/RepeatCopy-v0", 16, calls), repeats)
    micros = per_batch * 16 * 1e6
    print(
        f"\nsampler, one DNC batch (16 x default RepeatCopy): {micros:.1f} us = "
        f"{micros / 5000:.1%} of a 5 ms DNC step, {micros / 10000:.1%} of 10 ms (goal < 2%)"
    )


if __name__ == "__main__":
    main()
