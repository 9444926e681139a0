"""The supervised agent: rollouts from native and third-party vector envs, metrics, updates."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import memtasks  # noqa: F401
from memagents import agent as agent_module
from memagents.agent import (
    NonFiniteGradientError,
    NonFiniteLossError,
    SupervisedAgent,
    batch_sampler,
    batch_seed,
    env_sizes,
    evaluate,
    make_envs,
    rollout,
    sequence_bit_errors,
    sequence_loss_bits,
    unroll_batch,
)
from memagents.circuits import build_circuit
from memagents.config import TrainConfig


class EchoEnv(gym.Env):
    """A third-party task that follows the memtasks convention: repeat this step's input bits.

    Episodes last 2..5 steps; every step is scored except the first.
    """

    def __init__(self, bits: int = 3):
        self.bits = bits
        self.observation_space = gym.spaces.Box(0.0, 1.0, (bits,), np.float32)
        self.action_space = gym.spaces.MultiBinary(bits)

    def _info(self):
        if self._t >= len(self._xs):
            return {"target": np.zeros(self.bits, np.float32), "mask": 0.0}
        return {"target": self._xs[self._t].copy(), "mask": float(self._t > 0)}

    def _obs(self):
        if self._t >= len(self._xs):
            return np.zeros(self.bits, np.float32)
        return self._xs[self._t].copy()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        length = int(self.np_random.integers(2, 6))
        self._xs = self.np_random.integers(0, 2, (length, self.bits)).astype(np.float32)
        self._t = 0
        return self._obs(), self._info()

    def step(self, action):
        self._t += 1
        return self._obs(), 0.0, self._t >= len(self._xs), False, self._info()


ECHO_ID = "thirdparty/Echo-v0"
if ECHO_ID not in gym.registry:
    gym.register(ECHO_ID, entry_point=EchoEnv)


def tiny_lstm(input_size, output_size):
    torch.manual_seed(0)
    return build_circuit("lstm", input_size, output_size, hidden_size=8, num_layers=1)


def test_third_party_env_through_sync_vector_env():
    envs = make_envs(ECHO_ID, 6, {"bits": 3})
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    assert env_sizes(envs) == (3, 3)
    # The episode lengths the same seed gives, read off single envs.
    expected = []
    for index in range(6):
        env = EchoEnv(3)
        env.reset(seed=123 + index)
        expected.append(len(env._xs))
    batch = rollout(tiny_lstm(3, 3), envs, seed=123)
    assert batch.lengths.tolist() == expected
    assert batch.logits.shape[:2] == batch.mask.shape == (6, max(expected))
    for row, length in enumerate(expected):
        # Scored: steps 1..length-1 of its own episode; nothing after its end.
        assert batch.mask[row].tolist() == [0.0] + [1.0] * (length - 1) + [0.0] * (
            max(expected) - length
        )
        # Echo: the target of each live step is that step's input.
        torch.testing.assert_close(batch.targets[row, :length], batch.inputs[row, :length])


def test_native_copy_rollout_has_the_copy_layout():
    envs = make_envs("memtasks/Copy-v0", 8, {"bits": 4, "min_length": 1, "max_length": 6})
    assert not isinstance(envs, gym.vector.SyncVectorEnv)  # the native vector env
    assert env_sizes(envs) == (5, 4)
    batch = rollout(tiny_lstm(5, 4), envs, seed=7)
    for row in range(8):
        steps = int(batch.lengths[row])
        length = (steps - 1) // 2
        assert steps == 2 * length + 1
        assert batch.mask[row].sum().item() == length
        assert batch.mask[row, steps:].sum().item() == 0
        # The recall phase asks for the pattern shown in the input phase.
        torch.testing.assert_close(
            batch.targets[row, length + 1 : steps], batch.inputs[row, :length, :4]
        )


def test_pinned_length_beyond_training_range():
    envs = make_envs("memtasks/Copy-v0", 4, {"bits": 4, "min_length": 1, "max_length": 3})
    batch = rollout(tiny_lstm(5, 4), envs, seed=0, options={"length": 9})
    assert batch.lengths.tolist() == [19] * 4
    assert batch.mask.sum(1).tolist() == [9.0] * 4


def test_loss_and_bit_errors_by_hand():
    logits = torch.tensor([[[0.0, 0.0, 0.0], [5.0, -5.0, 5.0]]])  # (B=1, T=2, O=3)
    targets = torch.tensor([[[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]])
    mask = torch.tensor([[1.0, 0.0]])
    # Logit 0 is p = 1/2: one bit of cross-entropy per scored bit; step 2 is not scored.
    torch.testing.assert_close(sequence_loss_bits(logits, targets, mask), torch.tensor([3.0]))
    # Logit 0 predicts 0 (0 > 0 is False): bits 1 and 3 of step 1 are wrong.
    assert sequence_bit_errors(logits, targets, mask).tolist() == [2.0]
    mask = torch.tensor([[1.0, 1.0]])
    assert sequence_bit_errors(logits, targets, mask).tolist() == [2.0 + 2.0]
    p = torch.sigmoid(torch.tensor(5.0)).item()
    expected = 3.0 + (-math.log2(p) - math.log2(1 - p) - math.log2(1 - p))
    torch.testing.assert_close(sequence_loss_bits(logits, targets, mask), torch.tensor([expected]))


def small_config(**overrides) -> TrainConfig:
    base = dict(
        agent="lstm",
        env_id="memtasks/Copy-v0",
        env_kwargs={"bits": 3, "min_length": 1, "max_length": 3},
        circuit_kwargs={"hidden_size": 16, "num_layers": 1},
        batch_size=8,
        optimizer="adam",
        lr=1e-2,
        eps=1e-8,
    )
    base.update(overrides)
    return TrainConfig(**base)


def make_agent(config: TrainConfig) -> SupervisedAgent:
    envs = make_envs(config.env_id, config.batch_size, config.env_kwargs)
    torch.manual_seed(config.seed)
    circuit = build_circuit(config.agent, *env_sizes(envs), **config.circuit_kwargs)
    return SupervisedAgent(circuit, envs, config)


def test_same_seed_same_training():
    first, second = make_agent(small_config()), make_agent(small_config())
    for _ in range(3):
        first.train_step()
        second.train_step()
    for a, b in zip(first.circuit.parameters(), second.circuit.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert first.sequences == 24 and first.step == 3


def test_batches_depend_on_seed_and_step_only():
    assert batch_seed(1, 5) == batch_seed(1, 5)
    assert len({batch_seed(1, step) for step in range(100)}) == 100
    assert batch_seed(1, 5) != batch_seed(2, 5)


def test_gradient_clipping_is_applied(monkeypatch):
    norms = []
    original = torch.nn.utils.clip_grads_with_norm_

    def spy(parameters, max_norm, total_norm, *args, **kwargs):
        norms.append((total_norm.item(), max_norm))
        return original(parameters, max_norm, total_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grads_with_norm_", spy)
    agent = make_agent(small_config(clip_grad=1e-3))
    agent.train_step()
    assert norms and norms[0][1] == 1e-3 and norms[0][0] > 1e-3
    grad_norm = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in agent.circuit.parameters()])
    )
    assert grad_norm.item() == pytest.approx(1e-3, rel=1e-3)


def test_finite_gradients_whose_float32_norm_overflows_are_clipped_not_refused():
    """Gradients of 1e30 are finite, their squares are not (in float32): the norm is taken in
    float64 and the update is the clipped one, where refusing it stopped an exploding run."""
    weight = torch.nn.Parameter(torch.zeros(100))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    loss = (weight * 1e30).sum()
    assert torch.isinf(torch.nn.utils.get_total_norm([torch.full((100,), 1e30)]))
    agent_module.apply_update(optimizer, loss, clip_grad=1.0, step=0)
    # the gradient (1e30 everywhere) scaled to norm 1: each element 1 / sqrt(100) = 0.1
    torch.testing.assert_close(weight.detach(), torch.full((100,), -0.1), rtol=1e-5, atol=0)


def test_non_finite_gradients_are_still_refused():
    weight = torch.nn.Parameter(torch.tensor([0.0, 1.0, 1.0]))  # sqrt'(0) = inf
    optimizer = torch.optim.SGD([weight], lr=1.0)
    with pytest.raises(NonFiniteLossError, match="gradient norm is inf at step 7"):
        agent_module.apply_update(optimizer, weight.sqrt().sum(), clip_grad=1.0, step=7)
    assert weight.detach().tolist() == [0.0, 1.0, 1.0]


def test_a_non_finite_gradient_is_told_apart_from_a_non_finite_loss():
    weight = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    # a finite loss (0) whose gradient is not: sqrt'(0) = inf, then inf - inf = nan
    with pytest.raises(NonFiniteGradientError, match="gradient norm is nan at step 3"):
        agent_module.apply_update(optimizer, (weight - weight).sqrt().sum(), clip_grad=0, step=3)
    with pytest.raises(NonFiniteLossError) as error:
        agent_module.apply_update(optimizer, weight.sum() * math.inf, clip_grad=0, step=4)
    assert not isinstance(error.value, NonFiniteGradientError)


def gradient_fails_at(steps):
    """An apply_update that refuses the updates of `steps` as a non-finite gradient would."""
    real = agent_module.apply_update

    def apply_update(optimizer, loss, clip_grad, *, step):
        if step in steps:
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteGradientError(f"gradient norm is nan at step {step} (loss 1)")
        real(optimizer, loss, clip_grad, step=step)

    return apply_update


def test_batches_with_non_finite_gradients_are_skipped_up_to_the_limit_in_a_row(monkeypatch):
    monkeypatch.setattr(agent_module, "apply_update", gradient_fails_at({1, 3, 4}))
    agent = make_agent(small_config(skip_nonfinite_steps=2))
    skipped = []
    for _ in range(6):
        before = [p.detach().clone() for p in agent.circuit.parameters()]
        agent.train_step()
        unchanged = all(
            torch.equal(a, b) for a, b in zip(before, agent.circuit.parameters(), strict=True)
        )
        assert unchanged == agent.last_skipped  # a skipped batch leaves every parameter as it was
        skipped.append(agent.last_skipped)
    assert skipped == [False, True, False, True, True, False]
    assert agent.step == 6 and agent.skipped == 3 and agent.sequences == 6 * agent.config.batch_size
    # a third in a row is one more than allowed: the run fails as it would without skipping
    monkeypatch.setattr(agent_module, "apply_update", gradient_fails_at({6, 7, 8}))
    agent.train_step(), agent.train_step()
    with pytest.raises(NonFiniteGradientError, match="at step 8"):
        agent.train_step()
    assert agent.step == 8


def test_without_skips_the_first_non_finite_gradient_fails_the_step(monkeypatch):
    monkeypatch.setattr(agent_module, "apply_update", gradient_fails_at({0}))
    agent = make_agent(small_config())
    assert agent.config.skip_nonfinite_steps == 0
    with pytest.raises(NonFiniteGradientError):
        agent.train_step()
    assert agent.step == 0 and agent.skipped == 0


def test_non_finite_loss_is_refused_without_an_update(monkeypatch):
    agent = make_agent(small_config())
    before = [p.detach().clone() for p in agent.circuit.parameters()]
    monkeypatch.setattr(
        agent_module, "sequence_loss_bits", lambda logits, t, m: logits.sum((1, 2)) * math.nan
    )
    with pytest.raises(NonFiniteLossError, match="loss is nan at step 0"):
        agent.train_step()
    for a, b in zip(before, agent.circuit.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_training_lowers_the_loss_and_evaluation_counts_sequences():
    agent = make_agent(small_config())
    eval_envs = make_envs("memtasks/Copy-v0", 50, agent.config.env_kwargs)
    before = evaluate(agent.circuit, eval_envs, 100, seed=3)
    assert before.num_sequences == 100
    for _ in range(60):
        agent.train_step()
    after = evaluate(agent.circuit, eval_envs, 100, seed=3)
    assert after.loss_bits < 0.7 * before.loss_bits


def test_same_length_batches_pin_one_length_per_batch():
    config = small_config(
        env_kwargs={"bits": 3, "min_length": 1, "max_length": 6}, same_length_batches=True
    )
    agent = make_agent(config)
    lengths = set()
    for step in range(12):
        seed = batch_seed(config.seed, step)
        options = agent._pinned_length(seed)
        batch = rollout(agent.circuit, agent.envs, seed=seed, options=options)
        assert len(set(batch.lengths.tolist())) == 1  # every episode of the batch alike
        assert batch.lengths[0].item() == 2 * options["length"] + 1
        lengths.add(options["length"])
    assert lengths <= set(range(1, 7)) and len(lengths) >= 4  # spread over the training range
    agent.train_step()  # and the training step takes the same path


def test_same_length_batches_refuse_a_third_party_env():
    config = small_config(
        env_id=ECHO_ID, env_kwargs={"bits": 3}, same_length_batches=True, agent="lstm"
    )
    agent = make_agent(config)
    with pytest.raises(ValueError, match="same_length_batches needs a memtasks vector env"):
        agent.train_step()


# -- the batch path: memtasks' vector envs train on the sampled batch through unroll -------------

NATIVE_IDS = sorted(
    env_id
    for env_id, spec in gym.registry.items()
    if env_id.startswith("memtasks/") and spec.vector_entry_point is not None
)
TINY_CIRCUITS = {
    "ntm": dict(memory_size=8, word_size=5, controller_size=12),
    "dnc": dict(memory_size=6, word_size=5, controller_size=12, num_reads=2),
    "lstm": dict(hidden_size=12, num_layers=1),
}


def loss_and_gradients(circuit, batch):
    loss = sequence_loss_bits(batch.logits, batch.targets, batch.mask).mean()
    circuit.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in circuit.parameters()]


# Every circuit on Copy and RepeatCopy; the plain LSTM (the cheapest) on every other native id.
SAMPLER_CASES = [
    (env_id, circuit_name)
    for env_id in NATIVE_IDS
    for circuit_name in sorted(TINY_CIRCUITS)
    if circuit_name == "lstm" or env_id in ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0")
]


@pytest.mark.parametrize("pinned", [False, True], ids=["mixed-lengths", "same-length"])
@pytest.mark.parametrize(("env_id", "circuit_name"), SAMPLER_CASES)
def test_sampled_batch_is_the_rollout_batch(env_id, circuit_name, pinned):
    assert {"memtasks/Copy-v0", "memtasks/RepeatCopy-v0"} <= set(NATIVE_IDS)
    envs = make_envs(env_id, 6)
    sampler = batch_sampler(envs)
    assert sampler is not None
    torch.manual_seed(0)
    circuit = build_circuit(circuit_name, *env_sizes(envs), **TINY_CIRCUITS[circuit_name])
    options = dict.fromkeys(envs.task.option_keys, 3) if pinned else None  # {"length": 3}
    seed = batch_seed(1, 4)
    stepped = rollout(circuit, envs, seed=seed, options=options)
    sampled = unroll_batch(circuit, sampler, seed=seed, options=options)
    if not pinned and env_id in ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0"):
        assert len(set(stepped.lengths.tolist())) > 1  # the padding is exercised
    for field in ("inputs", "targets", "mask", "lengths"):
        torch.testing.assert_close(getattr(sampled, field), getattr(stepped, field), rtol=0, atol=0)
    torch.testing.assert_close(sampled.logits, stepped.logits)
    loss_stepped, grads_stepped = loss_and_gradients(circuit, stepped)
    loss_sampled, grads_sampled = loss_and_gradients(circuit, sampled)
    torch.testing.assert_close(loss_sampled, loss_stepped)
    for sampled_grad, stepped_grad in zip(grads_sampled, grads_stepped, strict=True):
        torch.testing.assert_close(sampled_grad, stepped_grad, rtol=1e-4, atol=1e-6)
    # Another seed, another batch: the seed is what picks it.
    other = unroll_batch(circuit, sampler, seed=seed + 1, options=options)
    assert not torch.equal(other.inputs[:, : sampled.inputs.shape[1]], sampled.inputs)


@pytest.mark.parametrize("same_length_batches", [False, True])
def test_training_on_the_sampler_follows_the_rollout_path(same_length_batches):
    config = small_config(
        agent="ntm",
        circuit_kwargs=TINY_CIRCUITS["ntm"],
        env_kwargs={"bits": 3, "min_length": 1, "max_length": 5},
        same_length_batches=same_length_batches,
    )
    sampled, stepped = make_agent(config), make_agent(config)
    # float64: the sampled batch unrolls through the fused sequence, the env path steps the
    # circuit, and RMSprop turns float32 rounding in tiny gradients into visible updates.
    for agent in (sampled, stepped):
        agent.circuit.double()
        agent.optimizer = type(agent.optimizer)(
            agent.circuit.parameters(), **agent.optimizer.defaults
        )
    assert sampled.sampler is not None
    stepped.sampler = None  # through the env, step by step
    for _ in range(3):
        metrics_sampled, _ = sampled.train_step()
        metrics_stepped, _ = stepped.train_step()
        assert metrics_sampled.num_sequences == metrics_stepped.num_sequences == 8
        assert metrics_sampled.bit_errors == metrics_stepped.bit_errors
        assert metrics_sampled.loss_bits == pytest.approx(metrics_stepped.loss_bits, rel=1e-5)
    for a, b in zip(sampled.circuit.parameters(), stepped.circuit.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_evaluation_on_the_sampler_gives_the_rollout_figures():
    envs = make_envs("memtasks/RepeatCopy-v0", 5)
    torch.manual_seed(0)
    circuit = build_circuit("dnc", *env_sizes(envs), **TINY_CIRCUITS["dnc"])
    for options in (None, {"length": 4}):
        sampled = evaluate(circuit, envs, 12, seed=3, options=options)
        stepped = evaluate(circuit, envs, 12, seed=3, options=options, stepwise=True)
        assert sampled.num_sequences == stepped.num_sequences == 15  # whole batches
        assert sampled.bit_errors == stepped.bit_errors
        assert sampled.perfect == stepped.perfect
        assert sampled.loss_bits == pytest.approx(stepped.loss_bits, rel=1e-5)


def test_only_unwrapped_native_envs_expose_the_sampler():
    native = make_envs("memtasks/Copy-v0", 4)
    assert batch_sampler(native) is not None
    assert batch_sampler(make_envs(ECHO_ID, 4, {"bits": 3})) is None
    assert batch_sampler(gym.wrappers.vector.RecordEpisodeStatistics(native)) is None
    agent = make_agent(small_config(env_id=ECHO_ID, env_kwargs={"bits": 3}))
    assert agent.sampler is None
    agent.train_step()  # the rollout path


def test_batch_sampler_refuses_what_it_cannot_draw():
    sampler = batch_sampler(make_envs("memtasks/Copy-v0", 4))
    with pytest.raises(ValueError, match="needs an integer seed"):
        sampler(None, None)
    with pytest.raises(ValueError, match="reset_mask"):
        sampler(1, {"reset_mask": np.ones(4, dtype=bool)})
    with pytest.raises(ValueError, match="unknown reset option"):
        sampler(1, {"repeats": 2})


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_optimizer_implementation_makes_the_default_update(optimizer):
    config = small_config(optimizer=optimizer, lr=1e-2, rmsprop_momentum=0.9)

    def updated(build):
        torch.manual_seed(0)
        circuit = build_circuit("ntm", 5, 4, **TINY_CIRCUITS["ntm"])
        parameters = list(circuit.parameters())
        opt = build(parameters)
        generator = torch.Generator().manual_seed(1)
        for _ in range(5):
            for p in parameters:
                p.grad = torch.randn(p.shape, generator=generator)
            opt.step()
        return opt, torch.cat([p.detach().flatten() for p in parameters])

    fast, fast_values = updated(lambda ps: agent_module.build_optimizer(config, ps))
    if optimizer == "rmsprop":
        defaults = dict(alpha=config.rmsprop_alpha, momentum=config.rmsprop_momentum)
        build = lambda ps: torch.optim.RMSprop(ps, lr=config.lr, eps=config.eps, **defaults)  # noqa: E731
        assert fast.defaults["foreach"] is True
        _, values = updated(build)
        torch.testing.assert_close(fast_values, values, rtol=0, atol=0)  # bit for bit
    else:
        assert fast.defaults["fused"] is True
        _, values = updated(lambda ps: torch.optim.Adam(ps, lr=config.lr, eps=config.eps))
        torch.testing.assert_close(fast_values, values)


def test_all_finite_sees_any_nan_or_infinity():
    tensors = [torch.zeros(3, 4), torch.full((5,), 3.0e38), torch.ones(2)]
    assert agent_module.all_finite(tensors)  # huge but finite values do not overflow the check
    for bad in (math.nan, math.inf, -math.inf):
        broken = [t.clone() for t in tensors]
        broken[1][2] = bad
        assert not agent_module.all_finite(broken)
