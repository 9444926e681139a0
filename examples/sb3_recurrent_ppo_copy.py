"""sb3-contrib's RecurrentPPO (an LSTM policy) learns a small copy task from the bit reward.

    pip install sb3-contrib
    python examples/sb3_recurrent_ppo_copy.py                     # 150k steps, about 2 min, 1 core
    python examples/sb3_recurrent_ppo_copy.py --steps 20000 --out /tmp/rppo

The task: `memtasks/Copy-v0` with 2 bits and lengths 1..3, `reward_mode="bit"` (a perfect
episode returns 1.0, random bits return 0.5). RecurrentPPO 2.9.2 cannot take MultiBinary actions
(its recurrent rollout buffer keeps them as int8, which its Bernoulli log-probability refuses), so
the env is wrapped in `MultiBinaryToMultiDiscrete`: the same bits as MultiDiscrete([2, 2]).
Writes the curve (mean return of the last 100 episodes, per rollout) to OUT.csv and OUT.png.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from memtasks.wrappers import MultiBinaryToMultiDiscrete

TASK = dict(bits=2, min_length=1, max_length=3, reward_mode="bit")


class Curve(BaseCallback):
    """After each rollout: steps, episodes, mean return and bit errors of the last 100 episodes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int, int, float, float]] = []
        self.episodes = 0

    def _on_step(self) -> bool:
        self.episodes += int(np.sum(self.locals["dones"]))
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.ep_info_buffer
        if buffer:
            episode_return = float(np.mean([e["r"] for e in buffer]))
            bit_errors = float(np.mean([e["bit_errors"] for e in buffer]))
            self.rows.append((self.num_timesteps, self.episodes, episode_return, bit_errors))
            print(
                f"steps {self.num_timesteps:7d} episodes {self.episodes:6d} "
                f"return {episode_return:.3f} bit errors {bit_errors:.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150_000, help="environment steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="examples/sb3_recurrent_ppo_copy", help="OUT.csv/.png")
    args = parser.parse_args()
    torch.set_num_threads(1)

    envs = make_vec_env(
        "memtasks:memtasks/Copy-v0",  # the module-qualified id imports memtasks on the fly
        n_envs=8,
        seed=args.seed,
        env_kwargs=TASK,
        wrapper_class=MultiBinaryToMultiDiscrete,
        monitor_kwargs=dict(info_keywords=("bit_errors",)),
    )
    model = RecurrentPPO(
        "MlpLstmPolicy",
        envs,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        learning_rate=1e-3,
        gamma=1.0,
        gae_lambda=0.95,
        seed=args.seed,
        device="cpu",
        policy_kwargs=dict(lstm_hidden_size=64),
    )
    curve = Curve()
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps, callback=curve)
    print(f"{args.steps} steps in {time.perf_counter() - start:.0f} s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["steps", "episodes", "mean_return_last_100", "bit_errors_last_100"])
        writer.writerows(curve.rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, _, returns, _ = zip(*curve.rows, strict=True)
    figure, axes = plt.subplots(figsize=(5, 3.2), dpi=80)
    axes.plot(steps, returns, label="RecurrentPPO (MlpLstmPolicy, 64)")
    axes.axhline(0.5, color="grey", linestyle=":", label="random bits")
    axes.set(
        xlabel="environment steps",
        ylabel="mean episode return (last 100)",
        title="Copy-v0, 2 bits, lengths 1..3, bit reward",
        ylim=(0.4, 1.0),
    )
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
