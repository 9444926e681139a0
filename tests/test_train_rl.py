"""Circuits as Bernoulli policies: the pieces of ``memagents.rl`` and ``scripts/train_rl.py`` end to
end on tiny budgets (run folder, metrics, plots, checkpoint that scripts/test.py loads, resume)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from memagents.agent import env_sizes, make_envs
from memagents.checkpoint import load_checkpoint
from memagents.circuits import build_circuit
from memagents.config import DNCConfig
from memagents.evaluation import load_circuit
from memagents.rl import (
    DEFAULT_RL_CONFIG,
    PolicyGradientAgent,
    RLConfig,
    StepBaseline,
    advantages,
    evaluate_policy,
    policy_loss,
    policy_rollout,
    rewards_to_go,
)

ROOT = Path(__file__).resolve().parents[1]
TINY_TASK = dict(bits=2, min_length=1, max_length=1)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny(agent: str, batch_size: int = 4, **task):
    envs = make_envs("memtasks/Copy-v0", batch_size, dict(task or TINY_TASK, reward_mode="bit"))
    kwargs = {
        "lstm": dict(hidden_size=8),
        "ntm": dict(memory_size=4, word_size=3, controller_size=8),
        "dnc": dict(memory_size=4, word_size=3, controller_size=8, num_reads=1),
    }[agent]
    torch.manual_seed(0)
    return build_circuit(agent, *env_sizes(envs), **kwargs), envs


def test_rewards_to_go_table():
    rewards = torch.tensor([[0.0, 0.5, 0.25, 9.0], [1.0, 0.0, 2.0, 4.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    torch.testing.assert_close(
        rewards_to_go(rewards, mask), torch.tensor([[0.75, 0.75, 0.25, 0.0], [7.0, 6.0, 6.0, 4.0]])
    )
    torch.testing.assert_close(
        rewards_to_go(rewards, mask, gamma=0.5),
        torch.tensor([[0.3125, 0.625, 0.25, 0.0], [2.0, 2.0, 4.0, 4.0]]),
    )


def test_step_baseline_is_a_bias_corrected_moving_average():
    baseline = StepBaseline(decay=0.5)
    assert np.isnan(baseline.value(2)).all()
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    baseline.update(torch.tensor([[2.0, 4.0], [4.0, 99.0]]), mask)
    np.testing.assert_allclose(baseline.value(3)[:2], [3.0, 4.0])  # the first batch's means
    assert np.isnan(baseline.value(3)[2])
    baseline.update(torch.tensor([[6.0, 0.0], [6.0, 0.0]]), torch.ones(2, 2))
    # (0.5 * 0.5 * 3 + 0.5 * 6) / (1 - 0.5**2) = 5 and likewise (1 + 0) / 0.75 * 4 * 0.25 ...
    np.testing.assert_allclose(baseline.value(2), [(0.25 * 3 + 0.5 * 6) / 0.75, (0.25 * 4) / 0.75])
    restored = StepBaseline(decay=0.5)
    restored.load_state_dict(baseline.state_dict())
    np.testing.assert_array_equal(restored.value(3)[:2], baseline.value(3)[:2])


@pytest.mark.parametrize("agent", ["lstm", "ntm", "dnc"])
def test_rollout_masks_each_episode_and_returns_follow_the_bit_errors(agent):
    length = 2
    circuit, envs = tiny(agent, batch_size=5, bits=3, min_length=1, max_length=3)
    batch = policy_rollout(circuit, envs, seed=1, options={"length": length})
    assert batch.lengths.tolist() == [2 * length + 1] * 5
    assert batch.actions.shape == (5, 2 * length + 1, 3)
    assert set(batch.actions.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(
        batch.returns, 1.0 - batch.bit_errors / (3 * length), atol=1e-6, rtol=0
    )
    # Mixed lengths: nothing is paid after an episode's end.
    batch = policy_rollout(circuit, envs, seed=2)
    assert (batch.rewards * (1 - batch.mask)).abs().sum() == 0
    assert set(batch.lengths.tolist()) <= {3, 5, 7}
    assert ((batch.returns >= 0) & (batch.returns <= 1 + 1e-6)).all()


@pytest.mark.parametrize("agent", ["lstm", "ntm", "dnc"])
def test_ppo_loss_at_the_playing_parameters_has_the_reinforce_gradient(agent):
    """The replay through ``unroll`` matches the step-by-step play, and ratio 1 gives REINFORCE."""
    circuit, envs = tiny(agent, batch_size=3, bits=2, min_length=1, max_length=3)
    torch.manual_seed(5)
    played = policy_rollout(circuit, envs, seed=3)  # with autograd
    advantage = torch.randn(played.mask.shape) * played.mask
    reinforce = -(played.log_probs * advantage * played.mask).sum() / 3
    expected = torch.autograd.grad(reinforce, list(circuit.parameters()))
    batch = played._replace(log_probs=played.log_probs.detach())
    loss = policy_loss(circuit, batch, advantage, clip_ratio=0.2, entropy_coef=0.0)
    torch.testing.assert_close(loss, -(advantage * played.mask).sum() / 3)  # ratio 1 everywhere
    got = torch.autograd.grad(loss, list(circuit.parameters()))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-4)


def test_advantages_are_normalised_over_the_episode_steps_only():
    circuit, envs = tiny("lstm", batch_size=6, bits=2, min_length=1, max_length=3)
    batch = policy_rollout(circuit, envs, seed=4)
    advantage = advantages(batch, StepBaseline(0.9), gamma=1.0, normalize=True)
    values = advantage[batch.mask > 0]
    assert abs(values.mean().item()) < 1e-5
    assert values.std().item() == pytest.approx(1.0, abs=1e-3)
    assert (advantage[batch.mask == 0] == 0).all()


def test_the_policy_learns_a_tiny_copy_task():
    """An LSTM policy, 150 updates of 16 episodes (about 7 s): from chance to near perfect."""
    config = dataclasses.replace(
        DEFAULT_RL_CONFIG,
        agent="lstm",
        env_kwargs=TINY_TASK,
        circuit_kwargs=dict(hidden_size=16),
        batch_size=16,
    )
    torch.manual_seed(0)
    envs = make_envs(config.env_id, config.batch_size, config.task_kwargs)
    circuit = build_circuit("lstm", *env_sizes(envs), **config.full_circuit_kwargs)
    eval_envs = make_envs(config.env_id, 64, config.task_kwargs)
    before = evaluate_policy(circuit, eval_envs, 64, seed=1, greedy=False)
    agent = PolicyGradientAgent(circuit, envs, config)
    for _ in range(150):
        agent.train_step()
    after = evaluate_policy(circuit, eval_envs, 64, seed=1, greedy=False)
    assert before.episode_return < 0.7
    assert after.episode_return > 0.9
    assert agent.episodes == 150 * 16


def test_config_checks_and_the_circuit_it_describes():
    with pytest.raises(ValueError, match="reward_mode must be one of"):
        RLConfig(reward_mode="none")
    with pytest.raises(ValueError, match="not in env_kwargs"):
        RLConfig(env_kwargs=dict(bits=2, reward_mode="bit"))
    with pytest.raises(ValueError, match="ppo_epochs must be >= 1"):
        RLConfig(ppo_epochs=0)
    config = RLConfig(agent="dnc", reward_mode="sparse", circuit_kwargs=dict(num_reads=1))
    assert RLConfig.from_dict(config.to_dict()) == config
    assert config.task_kwargs["reward_mode"] == "sparse"
    assert config.circuit == DNCConfig(memory_size=16, word_size=8, controller_size=64, num_reads=1)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        RLConfig(lr=float("inf"))
    with pytest.raises(ValueError, match="unknown dnc setting"):
        RLConfig(agent="dnc", circuit_kwargs=dict(bogus=1))
    with pytest.raises(TypeError, match="read-only"):
        DEFAULT_RL_CONFIG.env_kwargs["bits"] = 3


# scripts/train_rl.py

TINY_RUN = [
    "--agent", "lstm", "--circuit-kwarg", "hidden_size=8", "--env-kwarg", "max_length=2",
    "--batch-size", "4", "--eval-episodes", "8", "--log-every", "5", "--eval-every", "5",
    "--checkpoint-every", "5", "--no-visdom", "--no-progress", "--num-threads", "1",
]  # fmt: skip


def train_rl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_rl.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def test_train_rl_writes_a_run_folder_and_resumes_bit_for_bit(tmp_path):
    runs = str(tmp_path)
    train_rl(*TINY_RUN, "--max-steps", "10", "--run-name", "straight", "--runs-dir", runs)
    train_rl(*TINY_RUN, "--max-steps", "5", "--run-name", "split", "--runs-dir", runs)
    train_rl("--resume", "split", "--max-steps", "10", "--runs-dir", runs, "--no-progress")

    run_dir = tmp_path / "straight"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"] == "lstm" and config["env_kwargs"]["max_length"] == 2
    assert config["env_id"] == "memtasks/Copy-Easy-v0"  # the default: a level, with its settings
    assert config["env_kwargs"] == {"max_length": 2}  # only what was given over the level's own
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in lines if line["kind"] == "train"]
    eval_lines = [line for line in lines if line["kind"] == "eval"]
    assert [line["step"] for line in train_lines] == [5, 10]
    assert [line["episodes"] for line in eval_lines] == [20, 40]
    assert all(0 <= line["episode_return"] <= 1 for line in train_lines + eval_lines)
    assert {p.name for p in (run_dir / "plots").glob("*.png")} == {"return.png", "bit_errors.png"}
    assert "summary: finished after 10 steps, 40 episodes" in (run_dir / "train.log").read_text()

    straight = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    resumed = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert straight["step"] == resumed["step"] == 10
    for name, tensor in straight["model"].items():
        torch.testing.assert_close(resumed["model"][name], tensor, atol=0, rtol=0)
    torch.testing.assert_close(
        resumed["extra"]["baseline"]["average"], straight["extra"]["baseline"]["average"]
    )
    split_lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()

    def untimed(line: dict) -> dict:
        return {k: v for k, v in line.items() if k not in ("ms_per_episode", "elapsed_s")}

    assert [untimed(json.loads(line)) for line in split_lines] == [untimed(x) for x in lines]

    loaded = load_circuit(run_dir / "checkpoints" / "last.pt")  # what scripts/test.py uses
    assert loaded.circuit.name == "lstm" and loaded.config.reward_mode == "bit"


def test_train_rl_stops_when_solved(tmp_path):
    runs = str(tmp_path)
    result = train_rl(
        *TINY_RUN, "--solved-return", "0.0", "--max-steps", "50", "--run-name", "easy",
        "--runs-dir", runs,
    )  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "easy" / "metrics.jsonl").open()]
    solved = [line for line in lines if line["kind"] == "solved"]
    assert len(solved) == 1 and solved[0]["step"] == 5
    assert "SOLVED at step 5" in result.stderr
    assert load_checkpoint(tmp_path / "easy" / "checkpoints" / "last.pt")["step"] == 5


def test_train_rl_refuses_bad_settings_before_starting(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_rl", ROOT / "scripts" / "train_rl.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    runs = ["--runs-dir", str(tmp_path)]
    assert script.main(["--agent", "lstm", "--reward-mode", "none", *runs]) == 2
    assert "reward_mode must be one of" in capsys.readouterr().err
    assert script.main(["--agent", "rnn", *runs]) == 2
    assert "agent must be ntm, dnc or lstm" in capsys.readouterr().err
    (tmp_path / "taken" / "checkpoints").mkdir(parents=True)
    (tmp_path / "taken" / "checkpoints" / "last.pt").write_bytes(b"")
    assert script.main(["--run-name", "taken", *runs]) == 2
    assert "already has a checkpoint" in capsys.readouterr().err
    assert script.main(["--resume", "nothing", *runs]) == 2
    assert "cannot resume" in capsys.readouterr().err
