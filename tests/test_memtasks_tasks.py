"""The NTM paper's associative recall, dynamic N-grams and priority sort (section 4.3-4.5).

Exact arrays for fixed seeds; each target rule re-derived independently (a brute-force search for
the recalled item, Python's sorted() for priority sort, dictionary counts for the Bayes
estimator); the env checkers and same-seed determinism over the new ids; the native vector env
against the single env and SyncVectorEnv; errors and options beyond the training range.
"""

import doctest
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import memtasks
from memtasks.envs import associative_recall, dynamic_ngrams, priority_sort
from memtasks.sampling import (
    TaskBatch,
    dynamic_ngrams_optimal_cost,
    dynamic_ngrams_optimal_predictions,
    sample_associative_recall,
    sample_dynamic_ngrams,
    sample_priority_sort,
    sequence_cost_bits,
)

NEW_IDS = (
    "memtasks/AssociativeRecall-v0",
    "memtasks/DynamicNGrams-v0",
    "memtasks/PrioritySort-v0",
)
SAMPLERS = {
    "memtasks/AssociativeRecall-v0": sample_associative_recall,
    "memtasks/DynamicNGrams-v0": sample_dynamic_ngrams,
    "memtasks/PrioritySort-v0": sample_priority_sort,
}
SMALL = {  # small instances of each task, kwargs of both the env and its sampler
    "memtasks/AssociativeRecall-v0": {"bits": 2, "item_length": 2, "max_items": 4},
    "memtasks/DynamicNGrams-v0": {"order": 3, "length": 12},
    "memtasks/PrioritySort-v0": {"bits": 3, "num_inputs": 5, "num_outputs": 3},
}
FIXED_LENGTH = {  # every episode of the same length, also after autoresets
    "memtasks/AssociativeRecall-v0": {"bits": 2, "item_length": 2, "min_items": 3, "max_items": 3},
    "memtasks/DynamicNGrams-v0": {"order": 3, "length": 9},
    "memtasks/PrioritySort-v0": {"bits": 3, "num_inputs": 4, "num_outputs": 3},
}


def test_new_ids_are_registered_with_native_vector_envs():
    for env_id in NEW_IDS:
        assert env_id in memtasks.TASK_IDS
        spec = gym.spec(env_id)
        assert spec.max_episode_steps is None
        assert isinstance(spec.vector_entry_point, str)
        env = gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point")
        assert env.unwrapped.task.input_size == env.single_observation_space.shape[0]


def test_docstring_examples_run():
    for module in (associative_recall, dynamic_ngrams, priority_sort):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# ----------------------------------------------------------------------------------------------
# Exact arrays for fixed seeds (regression: the data of a seed never changes silently)


def test_associative_recall_exact_arrays_for_seed_0():
    batch = sample_associative_recall(
        np.random.default_rng(0), 2, bits=2, item_length=2, min_items=2, max_items=3
    )
    assert batch.lengths.tolist() == [15, 15]  # 3 items each: (3 + 2) * (2 + 1)
    np.testing.assert_array_equal(
        batch.inputs[0].T,
        [
            [0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0],
            [0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0],
            [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0],
        ],
    )
    np.testing.assert_array_equal(
        batch.targets[0].T,
        [[0] * 13 + [1, 0], [0] * 13 + [1, 0]],
    )
    np.testing.assert_array_equal(batch.mask[0], [0] * 13 + [1, 1])
    np.testing.assert_array_equal(
        batch.inputs[1].T,
        [
            [0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0],
        ],
    )
    np.testing.assert_array_equal(batch.targets[1].T, [[0] * 13 + [1, 0], [0] * 15])


def test_dynamic_ngrams_exact_arrays_for_seed_0():
    batch = sample_dynamic_ngrams(np.random.default_rng(0), 2, order=3, length=12)
    bits = [[1] * 12, [1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1]]
    np.testing.assert_array_equal(batch.targets[..., 0], bits)
    np.testing.assert_array_equal(batch.inputs[:, 1:, 0], np.array(bits)[:, :-1])
    np.testing.assert_array_equal(batch.inputs[:, 0, 0], [0, 0])
    np.testing.assert_array_equal(batch.mask, np.ones((2, 12)))
    assert batch.lengths.tolist() == [12, 12]
    np.testing.assert_allclose(
        dynamic_ngrams_optimal_predictions(batch.targets[..., 0], 3)[1],
        [0.5, 0.5, 0.5, 0.5, 3 / 4, 3 / 4, 1 / 4, 1 / 4, 5 / 6, 1 / 6, 1 / 2, 5 / 6],
    )


def test_priority_sort_exact_arrays_for_seed_0():
    batch = sample_priority_sort(np.random.default_rng(0), 2, bits=2, num_inputs=4, num_outputs=2)
    assert batch.lengths.tolist() == [7, 7]
    np.testing.assert_array_equal(
        batch.inputs[0, :, :2].T, [[0, 1, 1, 0, 0, 0, 0]] + [[1] * 4 + [0] * 3]
    )
    np.testing.assert_allclose(
        batch.inputs[0, :4, 2], [-0.91805297, -0.96694475, 0.62654048, 0.82551116]
    )
    np.testing.assert_array_equal(batch.inputs[:, :, 3], [[0, 0, 0, 0, 1, 0, 0]] * 2)
    # Highest first: vector 3 (0.83) = (0, 1), then vector 2 (0.63) = (1, 1).
    np.testing.assert_array_equal(batch.targets[0].T, [[0] * 5 + [0, 1], [0] * 5 + [1, 1]])
    np.testing.assert_array_equal(batch.mask, [[0] * 5 + [1, 1]] * 2)
    np.testing.assert_allclose(
        batch.inputs[1, :4, 2], [0.21327156, 0.45899311, 0.08724998, 0.87014484]
    )
    np.testing.assert_array_equal(batch.targets[1].T, [[0] * 5 + [0, 1], [0] * 5 + [0, 1]])


# ----------------------------------------------------------------------------------------------
# The target rules, re-derived independently


def _recall_by_search(inputs: np.ndarray, bits: int, item_length: int) -> tuple[list, list]:
    """Parse one episode's inputs step by step; return (the expected answer, every match)."""
    items, query, current, reading_query = [], None, None, False
    for x in inputs:
        if x[bits] == 1:  # an item opens
            current = []
            items.append(current)
        elif x[bits + 1] == 1:  # the query opens or closes
            if query is None:
                query, current = [], None
                reading_query = True
            else:
                break
        elif reading_query:
            query.append(tuple(x[:bits]))
        elif current is not None:
            current.append(tuple(x[:bits]))
    matches = [k for k, item in enumerate(items) if item == query]
    answer = items[matches[0] + 1] if len(matches) == 1 and matches[0] + 1 < len(items) else None
    assert all(len(item) == item_length for item in items)
    return answer, matches


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bits": 6, "item_length": 3, "min_items": 2, "max_items": 6},
        {"bits": 1, "item_length": 1, "min_items": 2, "max_items": 9},  # only two possible items
        {"bits": 2, "item_length": 2, "items": 20},
    ],
)
def test_associative_recall_target_is_the_item_after_the_unique_match(kwargs):
    batch = sample_associative_recall(np.random.default_rng(1), 64, **kwargs)
    bits, item_length = kwargs["bits"], kwargs["item_length"]
    for b in range(64):
        T = int(batch.lengths[b])
        answer, matches = _recall_by_search(batch.inputs[b, :T], bits, item_length)
        assert len(matches) == 1, matches  # the queried item occurs once in the list
        scored = batch.mask[b] == 1
        assert scored.sum() == item_length and scored[T - item_length : T].all()
        np.testing.assert_array_equal(batch.targets[b, scored], answer)
        assert not batch.targets[b, ~scored].any() and not batch.inputs[b, T:].any()


def test_associative_recall_query_and_counts_cover_their_ranges():
    batch = sample_associative_recall(np.random.default_rng(2), 2000, min_items=2, max_items=6)
    counts = (batch.lengths // 4) - 2  # T = (items + 2) * 4
    assert set(counts.tolist()) == {2, 3, 4, 5, 6}
    queried = []
    for b in range(200):
        _, matches = _recall_by_search(batch.inputs[b, : batch.lengths[b]], 6, 3)
        queried.append((int(counts[b]), matches[0]))
    assert {q for n, q in queried if n == 6} == {0, 1, 2, 3, 4}  # never the last item


def test_priority_sort_target_is_pythons_sorted_order():
    batch = sample_priority_sort(
        np.random.default_rng(3), 32, bits=5, num_inputs=20, num_outputs=16
    )
    for b in range(32):
        shown = [(float(x[5]), k, tuple(x[:5])) for k, x in enumerate(batch.inputs[b, :20])]
        ranked = sorted(shown, key=lambda entry: (-entry[0], entry[1]))[:16]
        np.testing.assert_array_equal(batch.targets[b, 21:], [vector for _, _, vector in ranked])
        assert all(-1 <= priority <= 1 for priority, _, _ in shown)
    priorities = batch.inputs[:, :20, 5]
    assert priorities.min() < -0.9 and priorities.max() > 0.9 and abs(priorities.mean()) < 0.1


def _bayes_by_counting(bits: list[int], order: int) -> list[float]:
    """P(x_t = 1) = (N1 + 1/2) / (N + 1), with a dictionary of counts per context."""
    counts: dict[tuple, list[int]] = {}
    padded = [0] * (order - 1) + list(bits)
    predictions = []
    for t, bit in enumerate(bits):
        context = tuple(padded[t : t + order - 1])
        zeros, ones = counts.setdefault(context, [0, 0])
        predictions.append((ones + 0.5) / (zeros + ones + 1))
        counts[context][bit] += 1
    return predictions


@pytest.mark.parametrize("order", [1, 2, 6, 9])
def test_optimal_predictions_are_the_bayes_counts(order):
    batch = sample_dynamic_ngrams(np.random.default_rng(order), 6, order=order, length=150)
    bits = batch.targets[..., 0]
    predictions = dynamic_ngrams_optimal_predictions(bits, order)
    for b in range(6):
        expected = _bayes_by_counting(bits[b].astype(int).tolist(), order)
        np.testing.assert_allclose(predictions[b], expected, rtol=0, atol=1e-12)
    costs = dynamic_ngrams_optimal_cost(batch, order)
    for b in range(6):
        expected = -sum(
            math.log2(p if x else 1 - p) for p, x in zip(predictions[b], bits[b], strict=True)
        )
        assert costs[b] == pytest.approx(expected, rel=1e-12)


def test_optimal_predictions_ignore_the_future():
    batch = sample_dynamic_ngrams(np.random.default_rng(4), 3, length=100)
    bits = batch.targets[..., 0].copy()
    before = dynamic_ngrams_optimal_predictions(bits, 6)
    bits[:, 60:] = 1 - bits[:, 60:]
    after = dynamic_ngrams_optimal_predictions(bits, 6)
    np.testing.assert_array_equal(before[:, :61], after[:, :61])
    assert not np.array_equal(before[:, 61:], after[:, 61:])


class PlantedNGramRng:
    """A Generator stand-in: `beta` returns a planted table, `random` planted uniforms."""

    def __init__(self, table, uniforms):
        self.table, self.uniforms = np.asarray(table, float), np.asarray(uniforms, float)

    def beta(self, a, b, size):
        assert (a, b) == (0.5, 0.5) and size == self.table.shape
        return self.table

    def random(self, size):
        assert size == self.uniforms.shape
        return self.uniforms


def test_dynamic_ngrams_draws_each_bit_from_its_contexts_entry():
    # order 3: context = x_(t-1) + 2 * x_(t-2), zeros before the start. Table: P(1) of contexts
    # 0, 1, 2, 3 = 1, 0, 1, 0.6. From context 0: 1, then (ctx 1) 0, (ctx 2) 1, (ctx 1) 0, ...
    # Row 1: context 0 has P(1) = 0, so it stays in context 0 and draws zeros.
    table = [[1.0, 0.0, 1.0, 0.6], [0.0, 1.0, 1.0, 0.6]]
    batch = sample_dynamic_ngrams(
        PlantedNGramRng(table, np.full((2, 8), 0.5)), 2, order=3, length=8
    )
    np.testing.assert_array_equal(batch.targets[0, :, 0], [1, 0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(batch.targets[1, :, 0], [0] * 8)
    np.testing.assert_array_equal(batch.inputs[0, :, 0], [0, 1, 0, 1, 0, 1, 0, 1])


def test_dynamic_ngrams_bits_follow_context_three():
    table = [[1.0, 1.0, 1.0, 0.6]]
    uniforms = [[0.5, 0.5, 0.7, 0.5, 0.9, 0.1]]
    batch = sample_dynamic_ngrams(PlantedNGramRng(table, uniforms), 1, order=3, length=6)
    # ctx 0 -> 1; ctx 1 -> 1; ctx 3: 0.7 < 0.6? no -> 0; ctx 2 -> 1; ctx 1 -> 1; ctx 3: 0.1 -> 1.
    np.testing.assert_array_equal(batch.targets[0, :, 0], [1, 1, 0, 1, 1, 1])


def test_sequence_cost_bits():
    bits = np.array([[1, 0, 1, 1]])
    assert sequence_cost_bits(np.full((1, 4), 0.5), bits).tolist() == [4.0]
    assert sequence_cost_bits(np.array([[1.0, 0.0, 1.0, 1.0]]), bits).tolist() == [0.0]
    assert sequence_cost_bits(np.array([[0.25, 0.5, 0.5, 0.5]]), bits, [[1, 0, 0, 0]]).tolist() == [
        2.0
    ]
    with pytest.raises(ValueError, match="same shape"):
        sequence_cost_bits(np.zeros((1, 3)), bits)
    with pytest.raises(ValueError, match=r"bits must have shape \(B, L\)"):
        dynamic_ngrams_optimal_predictions(np.zeros(5))


def test_optimal_cost_is_below_one_bit_a_step_and_near_the_papers_figure():
    batch = sample_dynamic_ngrams(np.random.default_rng(5), 500)
    costs = dynamic_ngrams_optimal_cost(batch)
    # 200 bits: a fair coin costs 200; the paper's optimum is about 130 (its figure 13).
    assert 120 < costs.mean() < 145 and (costs < 200).mean() > 0.95


# ----------------------------------------------------------------------------------------------
# The envs: checkers, determinism, the sampler's episodes, rewards, options, errors, rendering

ENV_KWARGS = [
    {},
    {"reward_mode": "bit", "render_mode": "rgb_array"},
    {"reward_mode": "vector", "render_mode": "ansi"},
    {"reward_mode": "sparse"},
]


@pytest.mark.parametrize("env_id", NEW_IDS)
@pytest.mark.parametrize("kwargs", ENV_KWARGS)
def test_gymnasium_check_env(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, **kwargs).unwrapped)


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_stable_baselines3_check_env(env_id):
    sb3_checker = pytest.importorskip(
        "stable_baselines3.common.env_checker", reason="stable-baselines3 is not installed"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_checker.check_env(gym.make(env_id, reward_mode="bit").unwrapped, warn=True)


def _rollout(env, seed, episodes=3):
    env.action_space.seed(seed)
    record = []
    observation, info = env.reset(seed=seed)
    for _ in range(episodes):
        record += [observation.tobytes(), info["target"].tobytes(), info["mask"].tobytes()]
        terminated = False
        while not terminated:
            observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
            record += [observation.tobytes(), info["target"].tobytes(), repr(reward)]
            record += [repr(terminated), repr(truncated), repr(sorted(info))]
        record += [repr(info["bit_errors"]), repr(info["is_perfect"])]
        observation, info = env.reset()
    return record


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_same_seed_same_episodes_byte_for_byte(env_id):
    first = _rollout(gym.make(env_id, reward_mode="bit"), seed=7)
    assert first == _rollout(gym.make(env_id, reward_mode="bit"), seed=7)
    assert first != _rollout(gym.make(env_id, reward_mode="bit"), seed=8)


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_episode_is_the_samplers_episode(env_id):
    kwargs = SMALL[env_id]
    for seed in range(4):
        batch = SAMPLERS[env_id](np.random.default_rng(seed), 1, **kwargs)
        env = gym.make(env_id, reward_mode="vector", **kwargs)
        observation, info = env.reset(seed=seed)
        T = int(batch.lengths[0])
        total = 0.0
        for t in range(T):
            np.testing.assert_array_equal(observation, batch.inputs[0, t])
            np.testing.assert_array_equal(info["target"], batch.targets[0, t])
            assert info["mask"] == batch.mask[0, t]
            observation, reward, terminated, truncated, info = env.step(info["target"])
            assert terminated is (t == T - 1) and truncated is False
            total += reward
        assert total == 1.0 and info["is_perfect"] is True and info["bit_errors"] == 0
        assert not observation.any() and not info["target"].any() and info["mask"] == 0.0


def test_ngrams_info_carries_the_optimal_prediction_of_each_step():
    env = gym.make("memtasks/DynamicNGrams-v0", length=50)
    for seed in (0, 1):
        batch = sample_dynamic_ngrams(np.random.default_rng(seed), 1, length=50)
        expected = dynamic_ngrams_optimal_predictions(batch.targets[..., 0], 6)[0]
        observation, info = env.reset(seed=seed)
        seen = []
        terminated = False
        while not terminated:
            assert info["optimal_prediction"].shape == (1,)
            assert info["optimal_prediction"].dtype == np.float32
            seen.append(float(info["optimal_prediction"][0]))
            observation, reward, terminated, truncated, info = env.step(np.zeros(1))
        assert info["optimal_prediction"].tolist() == [0.0]
        np.testing.assert_allclose(seen, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("env_id", "options", "steps"),
    [
        ("memtasks/AssociativeRecall-v0", {"items": 20}, 22 * 4),
        ("memtasks/AssociativeRecall-v0", {"items": 2}, 4 * 4),
        ("memtasks/PrioritySort-v0", {"num_inputs": 40, "num_outputs": 32}, 73),
        ("memtasks/PrioritySort-v0", {"num_outputs": 20}, 41),
        ("memtasks/PrioritySort-v0", {"num_inputs": 16}, 33),
        ("memtasks/DynamicNGrams-v0", {"length": 1000}, 1000),
    ],
)
def test_options_pin_difficulty_beyond_the_training_range(env_id, options, steps):
    env = gym.make(env_id, reward_mode="bit")
    observation, info = env.reset(seed=0, options=options)
    count, total, terminated = 0, 0.0, False
    while not terminated:
        assert env.observation_space.contains(observation)
        observation, reward, terminated, truncated, info = env.step(info["target"])
        count, total = count + 1, total + reward
    assert count == steps and total == 1.0
    env.reset()  # the next plain reset is back in the training range
    assert env.unwrapped.episode_length <= env.unwrapped.task.max_episode_length()


@pytest.mark.parametrize("reward_mode", ["bit", "vector", "sparse"])
def test_rewards_of_a_half_right_answer(reward_mode):
    """Associative recall, item_length 4: the first two answer steps right, the last two wrong."""
    env = gym.make("memtasks/AssociativeRecall-v0", bits=3, item_length=4, reward_mode=reward_mode)
    observation, info = env.reset(seed=0, options={"items": 3})
    total, scored, terminated = 0.0, 0, False
    while not terminated:
        scored += int(info["mask"])
        action = info["target"] if scored <= 2 else 1 - info["target"]
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
    assert total == pytest.approx({"bit": 0.5, "vector": 0.5, "sparse": 0.0}[reward_mode])
    assert info["bit_errors"] == 2 * 3 and info["is_perfect"] is False


BAD_KWARGS = [
    ("memtasks/AssociativeRecall-v0", {"bits": 0}, r"bits must be an integer"),
    ("memtasks/AssociativeRecall-v0", {"item_length": 0}, r"item_length must be an integer"),
    (
        "memtasks/AssociativeRecall-v0",
        {"min_items": 1},
        r"min_items must be an integer in \[2, 10000\]",
    ),
    ("memtasks/AssociativeRecall-v0", {"max_items": 1.5}, r"max_items must be an integer"),
    ("memtasks/AssociativeRecall-v0", {"min_items": 7}, r"min_items must be <= max_items"),
    ("memtasks/DynamicNGrams-v0", {"order": 0}, r"order must be an integer in \[1, 16\], got 0"),
    ("memtasks/DynamicNGrams-v0", {"order": 17}, r"order must be an integer in \[1, 16\]"),
    ("memtasks/DynamicNGrams-v0", {"length": 0}, r"length must be an integer"),
    ("memtasks/PrioritySort-v0", {"bits": -2}, r"bits must be an integer"),
    ("memtasks/PrioritySort-v0", {"num_inputs": 0}, r"num_inputs must be an integer"),
    ("memtasks/PrioritySort-v0", {"num_outputs": 21}, r"num_outputs must be <= num_inputs"),
    ("memtasks/PrioritySort-v0", {"reward_mode": "dense"}, r"reward_mode must be one of"),
    # Upper limits (memtasks.sampling.MAX_BITS, MAX_LENGTH, MAX_EPISODE_VALUES).
    ("memtasks/AssociativeRecall-v0", {"bits": 1025}, r"bits must be an integer in \[1, 1024\]"),
    ("memtasks/AssociativeRecall-v0", {"max_items": 10_001}, r"max_items must be an integer in"),
    (
        "memtasks/AssociativeRecall-v0",
        {"bits": 1024, "item_length": 5000},
        r"exceeds the limit of 16,777,216 values",
    ),
    ("memtasks/DynamicNGrams-v0", {"length": 10_001}, r"length must be an integer in \[1, 10000\]"),
    ("memtasks/PrioritySort-v0", {"num_inputs": 10_001}, r"num_inputs must be an integer in"),
    (
        "memtasks/PrioritySort-v0",
        {"bits": 1024, "num_inputs": 9000, "num_outputs": 9000},
        r"exceeds the limit",
    ),
]


@pytest.mark.parametrize(("env_id", "kwargs", "message"), BAD_KWARGS)
@pytest.mark.parametrize("vectorised", [False, True])
def test_bad_kwargs_raise_at_make_time(env_id, kwargs, message, vectorised):
    with pytest.raises(ValueError, match=message):
        if vectorised:
            gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
        else:
            gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    ("env_id", "options", "message"),
    [
        (
            "memtasks/AssociativeRecall-v0",
            {"items": 1},
            r"options\['items'\] must be an integer in \[2, 10000\]",
        ),
        (
            "memtasks/AssociativeRecall-v0",
            {"items": 0},
            r"options\['items'\] must be an integer in \[2, 10000\]",
        ),
        ("memtasks/AssociativeRecall-v0", {"length": 3}, r"unknown reset option 'length'"),
        ("memtasks/PrioritySort-v0", {"num_inputs": 10}, r"num_outputs must be <= num_inputs"),
        ("memtasks/PrioritySort-v0", {"num_outputs": 0}, r"options\['num_outputs'\] must be"),
        ("memtasks/DynamicNGrams-v0", {"length": 2.5}, r"options\['length'\] must be an integer"),
        ("memtasks/DynamicNGrams-v0", {"order": 3}, r"unknown reset option 'order'"),
        (
            "memtasks/DynamicNGrams-v0",
            {"length": 10_001},
            r"options\['length'\] must be an integer",
        ),
        ("memtasks/AssociativeRecall-v0", {"items": 10_001}, r"options\['items'\] must be an"),
    ],
)
@pytest.mark.parametrize("vectorised", [False, True])
def test_bad_options_are_value_errors(env_id, options, message, vectorised):
    if vectorised:
        env = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    else:
        env = gym.make(env_id)
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options=options)


@pytest.mark.parametrize(
    ("sampler", "kwargs", "message"),
    [
        (sample_associative_recall, {"items": 1}, r"items must be an integer in \[2, 10000\]"),
        (sample_associative_recall, {"min_items": 3, "max_items": 2}, r"min_items must be <="),
        (sample_dynamic_ngrams, {"order": 20}, r"order must be an integer in \[1, 16\]"),
        (sample_priority_sort, {"num_inputs": 3, "num_outputs": 4}, r"num_outputs must be <="),
        (sample_priority_sort, {"bits": True}, r"bits must be an integer"),
    ],
)
def test_sampler_argument_errors(sampler, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampler(np.random.default_rng(0), 2, **kwargs)
    with pytest.raises(ValueError, match=r"batch_size must be an integer"):
        sampler(np.random.default_rng(0), 0)


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_render_ansi_and_rgb_array(env_id):
    text_env = gym.make(env_id, render_mode="ansi", **SMALL[env_id])
    observation, info = text_env.reset(seed=0)
    observation, *_ = text_env.step(info["target"])
    text = text_env.render()
    assert isinstance(text, str) and "in 0" in text and "target 0" in text
    env = gym.make(env_id, render_mode="rgb_array", **FIXED_LENGTH[env_id])
    observation, info = env.reset(seed=0)
    frames, terminated = [env.render()], False
    while not terminated:
        observation, reward, terminated, truncated, info = env.step(info["target"])
        frames.append(env.render())
    assert len({frame.shape for frame in frames}) == 1 and frames[0].dtype == np.uint8
    assert frames[0].ndim == 3 and not np.array_equal(frames[0], frames[-1])


def test_priority_channel_is_drawn_as_a_signed_value():
    env = gym.make(
        "memtasks/PrioritySort-v0", bits=2, num_inputs=4, num_outputs=2, render_mode="ansi"
    )
    observation, info = env.reset(seed=0)
    for _ in range(4):
        observation, *_, info = env.step(info["target"])
    priorities = sample_priority_sort(
        np.random.default_rng(0), 1, bits=2, num_inputs=4, num_outputs=2
    ).inputs
    signs = "".join("+" if value > 0 else "-" for value in priorities[0, :4, 2])
    assert len(set(signs)) == 2  # this seed has both signs
    priority_row = [line for line in env.render().splitlines() if line.startswith("in 2")][0]
    assert f"|{signs}." in priority_row


# ----------------------------------------------------------------------------------------------
# The native vector envs


def _whole_episodes(env, seed, options=None):
    observations, info = env.reset(seed=seed, options=options)
    B = observations.shape[0]
    alive = np.ones(B, dtype=bool)
    steps = [[] for _ in range(B)]
    while alive.any():
        for b in np.flatnonzero(alive):
            steps[b].append((observations[b], info["target"][b], info["mask"][b]))
        observations, rewards, terminated, truncated, info = env.step(info["target"])
        for b in np.flatnonzero(alive & terminated):
            assert info["is_perfect"][b]
        alive &= ~terminated
    return steps


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_vector_env_first_episodes_are_the_samplers_batch(env_id):
    kwargs = SMALL[env_id]
    batch = SAMPLERS[env_id](np.random.default_rng(11), 5, **kwargs)
    env = gym.make_vec(env_id, num_envs=5, vectorization_mode="vector_entry_point", **kwargs)
    steps = _whole_episodes(env, seed=11)
    for b in range(5):
        T = int(batch.lengths[b])
        assert len(steps[b]) == T
        np.testing.assert_array_equal(np.stack([s[0] for s in steps[b]]), batch.inputs[b, :T])
        np.testing.assert_array_equal(np.stack([s[1] for s in steps[b]]), batch.targets[b, :T])
        np.testing.assert_array_equal([s[2] for s in steps[b]], batch.mask[b, :T])


@pytest.mark.parametrize("env_id", NEW_IDS)
@pytest.mark.parametrize("reward_mode", ["bit", "vector", "sparse"])
def test_vector_env_of_one_equals_the_single_env_for_the_same_seed(env_id, reward_mode):
    kwargs = {"reward_mode": reward_mode, **SMALL[env_id]}
    single = gym.make(env_id, **kwargs)
    vector = gym.make_vec(env_id, 1, vectorization_mode="vector_entry_point", **kwargs)
    actions = np.random.default_rng(0).random((60, single.action_space.n))
    for seed in (4, 5):
        observation, info = single.reset(seed=seed)
        observations, infos = vector.reset(seed=seed)
        for action in actions:
            np.testing.assert_array_equal(observations[0], observation)
            for key in info:
                np.testing.assert_array_equal(infos[key][0], info[key])
            observation, reward, terminated, truncated, info = single.step(action)
            observations, rewards, terminateds, _, infos = vector.step(action[None])
            assert rewards[0] == reward and terminateds[0] == terminated
            if terminated:
                assert infos["bit_errors"][0] == info["bit_errors"]
                assert infos["is_perfect"][0] == info["is_perfect"]
                break
        else:
            pytest.fail("no episode ended")


def _trace(env, steps):
    """Info keys, dtypes, shapes and `_key` flags, and the termination flags, over oracle steps."""

    def describe(info):
        described = []
        for key in sorted(info):
            value = info[key]
            if isinstance(value, dict):
                described.append((key, describe(value)))
            elif key == "final_obs":
                described.append((key, [v is None for v in value]))
            else:
                flags = value.tolist() if key.startswith("_") else None
                described.append((key, value.dtype, value.shape, flags))
        return described

    observations, info = env.reset(seed=0)
    trace = [(observations.dtype, observations.shape, describe(info))]
    for _ in range(steps):
        observations, rewards, terminated, truncated, info = env.step(info["target"])
        trace.append((rewards.dtype, terminated.tolist(), truncated.tolist(), describe(info)))
    return trace


@pytest.mark.parametrize("autoreset_mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("env_id", NEW_IDS)
def test_info_batching_and_autoreset_match_sync_vector_env(env_id, autoreset_mode):
    kwargs = {"reward_mode": "bit", **FIXED_LENGTH[env_id]}
    native = gym.make_vec(
        env_id, 3, vectorization_mode="vector_entry_point", autoreset_mode=autoreset_mode, **kwargs
    )
    sync = gym.make_vec(
        env_id,
        3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": autoreset_mode},
        **kwargs,
    )
    T = native.unwrapped.task.max_episode_length()
    traced = _trace(native, T + 2)
    assert traced == _trace(sync, T + 2)
    assert [any(step[1]) for step in traced[1:]] == [False] * (T - 1) + [True, False, False]


def test_ngrams_vector_env_optimal_predictions_follow_autoresets():
    env = gym.make_vec(
        "memtasks/DynamicNGrams-v0", 3, vectorization_mode="vector_entry_point", length=30
    )
    observations, info = env.reset(seed=2)
    unwrapped = env.unwrapped
    for _ in range(75):  # two and a half episodes: autoresets load new sequences
        rows = np.arange(3)
        bits = unwrapped._targets[:, :, 0]  # the buffer: each episode, then zeros
        expected = dynamic_ngrams_optimal_predictions(bits, 6)[rows, unwrapped._time]
        expected = np.where(unwrapped._time < unwrapped._lengths, expected, 0.0)
        np.testing.assert_allclose(info["optimal_prediction"][:, 0], expected, rtol=1e-6)
        assert info["_optimal_prediction"].all()
        observations, rewards, terminated, truncated, info = env.step(np.zeros((3, 1)))
    reset_mask = np.array([True, False, True])
    observations, info = env.reset(options={"reset_mask": reset_mask, "length": 50})
    assert info["_optimal_prediction"].tolist() == reset_mask.tolist()
    assert unwrapped._optimal.shape[:2] == unwrapped._mask.shape  # the buffer grew with it


@pytest.mark.parametrize("env_id", NEW_IDS)
def test_vector_env_options_beyond_the_training_range(env_id):
    options = {
        "memtasks/AssociativeRecall-v0": {"items": 12},
        "memtasks/DynamicNGrams-v0": {"length": 300},
        "memtasks/PrioritySort-v0": {"num_inputs": 30, "num_outputs": 25},
    }[env_id]
    env = gym.make_vec(env_id, 3, vectorization_mode="vector_entry_point")
    expected = env.unwrapped.task.max_episode_length(**options)
    steps = _whole_episodes(env, seed=0, options=options)
    assert [len(episode) for episode in steps] == [expected] * 3


def test_batch_is_a_task_batch():
    for env_id, sampler in SAMPLERS.items():
        batch = sampler(np.random.default_rng(0), 3, **SMALL[env_id])
        assert isinstance(batch, TaskBatch)
        assert all(array.dtype == np.float32 for array in batch[:3])
        assert batch.lengths.dtype == np.int64


# ----------------------------------------------------------------------------------------------
# The shared base's features: action-space variants and the curriculum hook


@pytest.mark.parametrize("env_id", NEW_IDS)
@pytest.mark.parametrize("action_space", ["multidiscrete", "discrete"])
def test_action_space_variants(env_id, action_space):
    kwargs = {**SMALL[env_id], "reward_mode": "bit", "action_space": action_space}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, **kwargs).unwrapped)
    env = gym.make(env_id, **kwargs)
    observation, info = env.reset(seed=0)
    total, terminated = 0.0, False
    while not terminated:  # an oracle in this action space
        bits = info["target"].astype(np.int64)
        action = (
            bits if action_space == "multidiscrete" else int(bits @ (1 << np.arange(bits.size)))
        )
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
    assert total == 1.0 and info["is_perfect"]


@pytest.mark.parametrize(
    ("env_id", "ranges", "longest"),
    [
        ("memtasks/AssociativeRecall-v0", {"min_items": 2, "max_items": 3}, (3 + 2) * 4),
        ("memtasks/DynamicNGrams-v0", {"length": 10}, 10),
        ("memtasks/PrioritySort-v0", {"num_inputs": 6, "num_outputs": 2}, 9),
    ],
)
def test_set_difficulty_changes_later_episodes(env_id, ranges, longest):
    env = gym.make(env_id)
    env.reset(seed=0)
    env.unwrapped.set_difficulty(**ranges)
    assert env.unwrapped.difficulty() == {**env.unwrapped.difficulty(), **ranges}
    lengths = set()
    for _ in range(20):
        env.reset()
        lengths.add(env.unwrapped.episode_length)
    assert max(lengths) == longest
    vector = gym.make_vec(env_id, 4, vectorization_mode="vector_entry_point")
    vector.reset(seed=0)
    vector.call("set_difficulty", **ranges)
    steps = _whole_episodes(vector, seed=1)
    assert max(len(episode) for episode in steps) <= longest


def test_levels_of_the_new_tasks_and_hard_is_the_paper():
    for env_id in NEW_IDS:
        for level in ("Easy", "Medium", "Hard"):
            level_id = memtasks.level_id(env_id, level)
            assert level_id in memtasks.LEVEL_IDS
            env = gym.make(level_id, reward_mode="bit")
            observation, info = env.reset(seed=0)
            assert env.observation_space.contains(observation)
    hard = gym.make("memtasks/AssociativeRecall-Hard-v0").unwrapped.task
    assert (hard.bits, hard.item_length, hard.min_items, hard.max_items) == (6, 3, 2, 6)
    hard = gym.make("memtasks/DynamicNGrams-Hard-v0").unwrapped.task
    assert (hard.order, hard.length) == (6, 200)
    hard = gym.make("memtasks/PrioritySort-Hard-v0").unwrapped.task
    assert (hard.bits, hard.num_inputs, hard.num_outputs) == (8, 20, 16)


def test_associative_recall_answers_are_far_from_where_they_were_shown():
    """Each answer vector was last shown at least 2 * item_length + 2 steps earlier (the Easy
    level's claim against frame stacks)."""
    for item_length in (1, 2, 3):
        batch = sample_associative_recall(
            np.random.default_rng(item_length), 200, bits=3, item_length=item_length, max_items=5
        )
        for b in range(200):
            scored = np.flatnonzero(batch.mask[b])
            query_start = scored[0] - item_length - 2
            answer_start = scored[0] - 2 * item_length - 2  # where the list would have to end
            item_starts = np.flatnonzero(batch.inputs[b, :query_start, 3]) + 1
            answer, _ = _recall_by_search(batch.inputs[b, : batch.lengths[b]], 3, item_length)
            shown = [
                start
                for start in item_starts
                if np.array_equal(batch.inputs[b, start : start + item_length, :3], answer)
            ]
            assert shown and max(shown) <= answer_start
