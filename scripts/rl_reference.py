"""Reference numbers: what standard agents reach on a memtasks level, over several seeds.

    python scripts/rl_reference.py run                  # every agent, seeds 1 2 3, Copy-Easy-v0
    python scripts/rl_reference.py run --agents lstm ppo-stack --seeds 1
    python scripts/rl_reference.py render               # the docs/RL.md table from the results

`run` trains each agent once per seed, each in its own process (one CPU thread), until the
level's solved threshold (`spec.reward_threshold`, a mean training return above 0.95) or the
agent's budget, and appends one record per run to docs/results/rl_reference.json (a run already
recorded with the same agent, seed, env and budget is skipped, so an interrupted `run` resumes).
`render` rewrites the part of docs/RL.md between the markers
`<!-- rl_reference:begin -->` and `<!-- rl_reference:end -->` from that file: no figure in the
table is typed by hand.

Agents:
- `ppo-stack`: Stable-Baselines3 PPO, MlpPolicy, on a stack of the last k observations
  (`VecFrameStack`, k = the level's `max_length`): memoryless beyond the window.
- `recurrent-ppo`: sb3-contrib RecurrentPPO, MlpLstmPolicy (LSTM 64), with the env's
  `action_space="multidiscrete"` (no wrapper).
- `lstm`, `ntm`, `dnc`: our circuits as Bernoulli policies, `scripts/train_rl.py` defaults.

Each record: agent, seed, env_id, budget_episodes, episodes (played), solved, solved_episodes
(episodes played when the mean training return first exceeded the threshold), final_return (mean
training return at the end: the last 100 episodes for SB3 agents, the last log window of 640
episodes for train_rl.py), cpu_s, wall_s and the command. CPU seconds are user + system time of
the run's process, on a machine that may be shared, so compare them loosely.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results" / "rl_reference.json"
DOC = ROOT / "docs" / "RL.md"
BEGIN, END = "<!-- rl_reference:begin -->", "<!-- rl_reference:end -->"
AGENTS = ("ppo-stack", "recurrent-ppo", "lstm", "ntm", "dnc")
CIRCUITS = ("lstm", "ntm", "dnc")
DEFAULT_ENV = "memtasks/Copy-Easy-v0"
# Budgets in episodes (an agent stops earlier when solved). SB3 agents step 8 envs of n_steps 128.
BUDGETS = {
    "ppo-stack": 20_000,
    "recurrent-ppo": 20_000,
    "lstm": 80_000,
    "ntm": 80_000,
    "dnc": 80_000,
}
LABELS = {
    "ppo-stack": "PPO + frame stack (SB3)",
    "recurrent-ppo": "RecurrentPPO, LSTM 64 (sb3-contrib)",
    "lstm": "LSTM 1 x 64 (train_rl.py)",
    "ntm": "NTM, memory 16 x 8 (train_rl.py)",
    "dnc": "DNC, memory 16 x 8 (train_rl.py)",
}


def command_for(agent: str, seed: int, env_id: str, budget: int) -> list[str]:
    """The command line that trains `agent` once (what the table shows)."""
    if agent in CIRCUITS:
        # The level's kwargs explicitly: train_rl.py's default env_kwargs would override them.
        import gymnasium as gym

        import memtasks  # noqa: F401

        level = [f"--env-kwarg={key}={value}" for key, value in gym.spec(env_id).kwargs.items()]
        return [
            "python", "scripts/train_rl.py", "--agent", agent, "--env", env_id, *level,
            "--seed", str(seed), "--max-steps", str(budget // 32), "--num-threads", "1",
            "--no-visdom", "--no-progress",
        ]  # fmt: skip
    return [
        "python", "scripts/rl_reference.py", "one", "--agent", agent, "--env", env_id,
        "--seed", str(seed), "--budget", str(budget),
    ]  # fmt: skip


def gym_kwargs(env_id: str) -> dict:
    """The kwargs a registered id (a level) fixes."""
    import gymnasium as gym

    import memtasks  # noqa: F401

    return dict(gym.spec(env_id).kwargs)


def run_circuit(agent: str, seed: int, env_id: str, budget: int, runs_dir: Path) -> dict:
    """Train with scripts/train_rl.py in a subprocess; read its metrics.jsonl."""
    name = f"ref_{agent}_{seed}"
    command = command_for(agent, seed, env_id, budget)
    full = [sys.executable, *command[1:], "--run-name", name, "--runs-dir", str(runs_dir)]
    subprocess.run(full, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    config = json.loads((runs_dir / name / "config.json").read_text())
    expected = gym_kwargs(env_id)
    if any(config["env_kwargs"].get(key) != value for key, value in expected.items()):
        raise RuntimeError(f"{name} trained on {config['env_kwargs']}, not the level {expected}")
    records = [json.loads(line) for line in (runs_dir / name / "metrics.jsonl").open()]
    train = [r for r in records if r["kind"] == "train"]
    solved = [r for r in records if r["kind"] == "solved"]
    return dict(
        episodes=train[-1]["episodes"],
        solved=bool(solved),
        solved_episodes=solved[0]["episodes"] if solved else None,
        final_return=train[-1]["episode_return"],
    )


def run_sb3(agent: str, seed: int, env_id: str, budget: int) -> dict:
    """Train an SB3 agent in this process until solved (100-episode mean) or `budget` episodes."""
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import memtasks  # noqa: F401

    torch.set_num_threads(1)
    threshold = gym.spec(env_id).reward_threshold
    counts = {"episodes": 0, "solved_episodes": None}

    class StopWhenSolved(BaseCallback):
        """Counts episodes; stops at the budget or once the 100-episode mean beats `threshold`."""

        def _on_step(self) -> bool:
            counts["episodes"] += int(np.sum(self.locals["dones"]))
            return counts["episodes"] < budget and counts["solved_episodes"] is None

        def _on_rollout_end(self) -> None:
            returns = [info["r"] for info in self.model.ep_info_buffer]
            if len(returns) == 100 and np.mean(returns) > threshold:
                counts["solved_episodes"] = counts["episodes"]

    kwargs = dict(reward_mode="bit")
    if agent == "recurrent-ppo":
        from sb3_contrib import RecurrentPPO

        kwargs["action_space"] = "multidiscrete"
        envs = make_vec_env(env_id, n_envs=8, seed=seed, env_kwargs=kwargs)
        model = RecurrentPPO(
            "MlpLstmPolicy", envs, n_steps=128, batch_size=256, n_epochs=4, learning_rate=1e-3,
            gamma=1.0, seed=seed, device="cpu", policy_kwargs=dict(lstm_hidden_size=64),
        )  # fmt: skip
    else:
        from stable_baselines3 import PPO
        from stable_baselines3.common.vec_env import VecFrameStack

        stack = gym.spec(env_id).kwargs["max_length"]
        envs = VecFrameStack(make_vec_env(env_id, n_envs=8, seed=seed, env_kwargs=kwargs), stack)
        model = PPO(
            "MlpPolicy", envs, n_steps=128, batch_size=256, n_epochs=4, learning_rate=1e-3,
            gamma=1.0, seed=seed, device="cpu",
        )  # fmt: skip
    model.learn(total_timesteps=10**9, callback=StopWhenSolved())
    returns = [info["r"] for info in model.ep_info_buffer]
    return dict(
        episodes=counts["episodes"],
        solved=counts["solved_episodes"] is not None,
        solved_episodes=counts["solved_episodes"],
        final_return=float(np.mean(returns)),
    )


def load_results(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def run(args: argparse.Namespace) -> int:
    results = load_results(args.out)
    done = {(r["agent"], r["seed"], r["env_id"], r["budget_episodes"]) for r in results}
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="rl_reference_"))
    for agent in args.agents:
        for seed in args.seeds:
            budget = args.budget or BUDGETS[agent]
            if (agent, seed, args.env, budget) in done:
                continue
            before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            if agent in CIRCUITS:
                record = run_circuit(agent, seed, args.env, budget, runs_dir)
            else:  # its own process too, so that its CPU time is its own
                full = [sys.executable, *command_for(agent, seed, args.env, budget)[1:]]
                output = subprocess.run(full, cwd=ROOT, check=True, capture_output=True, text=True)
                record = json.loads(output.stdout.strip().splitlines()[-1])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            record = dict(
                agent=agent,
                seed=seed,
                env_id=args.env,
                budget_episodes=budget,
                **record,
                cpu_s=round(cpu, 1),
                wall_s=round(time.perf_counter() - start, 1),
                command=" ".join(command_for(agent, seed, args.env, budget)),
            )
            print(json.dumps(record), flush=True)
            results.append(record)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def render_table(results: list[dict]) -> str:
    """The markdown table: one row per (env, agent), over its seeds."""
    lines = [
        "| env | agent | seeds | budget (episodes) | solved | episodes to solve (each seed) "
        "| final mean return (each seed) | CPU s per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = []
    for record in results:
        key = (record["env_id"], record["agent"], record["budget_episodes"])
        if key not in keys:
            keys.append(key)
    for env_id, agent, budget in keys:
        rows = [
            r
            for r in results
            if (r["env_id"], r["agent"], r["budget_episodes"]) == (env_id, agent, budget)
        ]
        rows.sort(key=lambda r: r["seed"])
        solved = sum(r["solved"] for r in rows)
        to_solve = ", ".join(
            f"{r['solved_episodes']:,}" if r["solved"] else "not solved" for r in rows
        )
        finals = ", ".join(f"{r['final_return']:.3f}" for r in rows)
        cpu = sum(r["cpu_s"] for r in rows) / len(rows)
        lines.append(
            f"| `{env_id}` | {LABELS.get(agent, agent)} | {len(rows)} | {budget:,} "
            f"| {solved}/{len(rows)} | {to_solve} | {finals} | {cpu:.0f} |"
        )
    commands = sorted({re.sub(r"--seed \d+", "--seed S", r["command"]) for r in results})
    lines += ["", "Commands (S = 1, 2, 3):", "", "```bash", *commands, "```"]
    return "\n".join(lines)


def render(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    if not results:
        print(f"error: no results in {args.results}", file=sys.stderr)
        return 2
    text = args.doc.read_text()
    if BEGIN not in text or END not in text:
        print(f"error: {args.doc} has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    args.doc.write_text(f"{head}{BEGIN}\n{render_table(results)}\n{END}{tail}")
    print(f"wrote the table of {len(results)} runs into {args.doc}")
    return 0


def one(args: argparse.Namespace) -> int:
    record = run_sb3(args.agent, args.seed, args.env, args.budget)
    print(json.dumps(record))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the agents, append to the results")
    run_parser.add_argument("--agents", nargs="+", choices=AGENTS, default=list(AGENTS))
    run_parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    run_parser.add_argument("--env", default=DEFAULT_ENV)
    run_parser.add_argument("--budget", type=int, help="episodes per run (default: BUDGETS)")
    run_parser.add_argument("--out", type=Path, default=RESULTS)
    run_parser.add_argument("--runs-dir", type=Path, help="where train_rl.py runs go (a temp dir)")
    render_parser = commands.add_parser("render", help="write the docs/RL.md table")
    render_parser.add_argument("--results", type=Path, default=RESULTS)
    render_parser.add_argument("--doc", type=Path, default=DOC)
    one_parser = commands.add_parser("one", help="one SB3 run; prints its record (internal)")
    one_parser.add_argument("--agent", choices=("ppo-stack", "recurrent-ppo"), required=True)
    one_parser.add_argument("--env", default=DEFAULT_ENV)
    one_parser.add_argument("--seed", type=int, required=True)
    one_parser.add_argument("--budget", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return {"run": run, "render": render, "one": one}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
