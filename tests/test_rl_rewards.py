"""The RL reward modes: documented returns for a perfect, an all-wrong and a half-right episode.

Copy with 2 bits and length 2 has S = 2 scored steps of O = 2 bits each. "Half right" comes in two
kinds: one bit of every scored step wrong (bit 0.5, vector 0, sparse 0) and one scored step fully
right, the other fully wrong (bit 0.5, vector 0.5, sparse 0).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import memtasks  # noqa: F401  (registers the ids)

BITS, LENGTH = 2, 2


def flip_all(target: np.ndarray, scored_index: int) -> np.ndarray:
    return 1 - target


def flip_first_bit(target: np.ndarray, scored_index: int) -> np.ndarray:
    action = target.copy()
    action[0] = 1 - action[0]
    return action


def flip_first_step(target: np.ndarray, scored_index: int) -> np.ndarray:
    return 1 - target if scored_index == 0 else target


def keep(target: np.ndarray, scored_index: int) -> np.ndarray:
    return target


# (policy, expected returns {mode: return}, expected bit errors)
CASES = {
    "perfect": (keep, {"bit": 1.0, "vector": 1.0, "sparse": 1.0}, 0),
    "all wrong": (flip_all, {"bit": 0.0, "vector": 0.0, "sparse": 0.0}, BITS * LENGTH),
    "half the bits of each step": (flip_first_bit, {"bit": 0.5, "vector": 0.0, "sparse": 0.0}, 2),
    "half the steps": (flip_first_step, {"bit": 0.5, "vector": 0.5, "sparse": 0.0}, 2),
}


def play(env: gym.Env, policy) -> tuple[list[float], list[float], dict]:
    """One episode; returns the rewards, the masks of the scored steps, and the final info."""
    _, info = env.reset(seed=3, options={"length": LENGTH})
    rewards, masks, scored, terminated = [], [], 0, False
    while not terminated:
        mask = float(info["mask"])
        action = policy(info["target"].astype(np.int8), scored) if mask else np.zeros(BITS, np.int8)
        scored += int(mask > 0)
        _, reward, terminated, truncated, info = env.step(action)
        assert not truncated
        rewards.append(reward)
        masks.append(mask)
    return rewards, masks, info


@pytest.mark.parametrize("mode", ["bit", "vector", "sparse"])
@pytest.mark.parametrize("case", list(CASES))
def test_single_env_returns(mode, case):
    policy, expected, errors = CASES[case]
    env = gym.make("memtasks/Copy-v0", bits=BITS, reward_mode=mode)
    rewards, masks, info = play(env, policy)
    assert sum(rewards) == pytest.approx(expected[mode], abs=1e-12)
    assert info["bit_errors"] == errors
    assert info["is_perfect"] == (errors == 0)
    unscored = [r for r, m in zip(rewards, masks, strict=True) if m == 0]
    assert unscored == [0.0] * len(unscored)  # only scored steps pay
    if mode == "sparse":
        assert rewards[:-1] == [0.0] * (len(rewards) - 1)  # paid at the end only


def test_bit_reward_pays_each_step_its_fraction():
    env = gym.make("memtasks/Copy-v0", bits=BITS, reward_mode="bit")
    rewards, masks, _ = play(env, flip_first_step)
    scored = [r for r, m in zip(rewards, masks, strict=True) if m > 0]
    assert scored == pytest.approx([0.0, 0.5])  # the wrong step 0, the right one 1 / S


@pytest.mark.parametrize("mode", ["bit", "vector", "sparse"])
def test_native_vector_env_returns_match(mode):
    """All four cases at once, one per sub-env of the native vector env."""
    from memagents.agent import make_envs

    envs = make_envs("memtasks/Copy-v0", len(CASES), dict(bits=BITS, reward_mode=mode))
    _, info = envs.reset(seed=5, options={"length": LENGTH})
    returns = np.zeros(len(CASES))
    scored = np.zeros(len(CASES), dtype=int)
    policies = [CASES[case][0] for case in CASES]
    for _ in range(2 * LENGTH + 1):
        targets, mask = info["target"].astype(np.int8), info["mask"]
        actions = np.stack(
            [policy(t, s) for policy, t, s in zip(policies, targets, scored, strict=True)]
        )
        scored += mask > 0
        _, rewards, terminated, _, info = envs.step(actions)
        returns += rewards
    assert terminated.all()
    expected = [CASES[case][1][mode] for case in CASES]
    np.testing.assert_allclose(returns, expected, atol=1e-12)
    np.testing.assert_array_equal(info["bit_errors"], [CASES[case][2] for case in CASES])


@pytest.mark.parametrize("mode", ["bit", "vector", "sparse"])
def test_repeat_copy_perfect_and_all_wrong(mode):
    env = gym.make("memtasks/RepeatCopy-v0", bits=BITS, reward_mode=mode)
    for policy, expected in ((keep, 1.0), (flip_all, 0.0)):
        _, info = env.reset(seed=1)
        total, terminated = 0.0, False
        while not terminated:
            target = info["target"]
            action = policy((target > 0.5).astype(np.int8), 0)
            _, reward, terminated, _, info = env.step(action)
            total += reward
        assert total == pytest.approx(expected, abs=1e-12)
