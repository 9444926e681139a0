"""The supervised agent: rolls whole episodes from a vector env and learns the masked targets.

Shapes: B batch (episodes in parallel), T time steps, I input size, O output size.

An episode is rolled the memtasks way (see docs/INTERFACES.md): the info returned with
observation ``x_t`` holds its ``target`` and ``mask``; the circuit's prediction for ``x_t`` is fed
back to the env as the action. Episodes in a batch may have different lengths: the rollout steps
until every sub-env has terminated once, and every step after a sub-env's own end gets mask 0
(with the default next-step autoreset, those steps belong to the sub-env's next episode and are
ignored).

Memtasks' native vector envs (``memtasks.vector.BitSequenceVectorEnv``, any task) also expose the
batch sampler their ``reset`` draws from. Supervised training needs the targets, not the agent's
actions, so for those envs ``SupervisedAgent`` and ``evaluate`` draw the padded batch directly
(``batch_sampler``: the batch ``reset(seed=s, options=...)`` would start) and run
``circuit.unroll`` over it (``unroll_batch``): the same batch, loss and gradients as ``rollout``,
without stepping the env, converting every observation and copying every action to the host.
``rollout`` remains the path for every other env and for traces (``keep_states``).
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

LN2 = math.log(2.0)


class Rollout(NamedTuple):
    """One batch of whole episodes."""

    inputs: torch.Tensor  # (B, T, I)
    targets: torch.Tensor  # (B, T, O)
    mask: torch.Tensor  # (B, T): 1 on scored steps of each episode, 0 elsewhere
    logits: torch.Tensor  # (B, T, O)
    lengths: torch.Tensor  # (B,): steps of each episode
    states: list | None  # circuit state after each step, when asked for


class BatchMetrics(NamedTuple):
    """Figures as the field reports them, per sequence, averaged over the batch."""

    loss_bits: float  # masked cross-entropy summed over scored bits, in bits
    bit_errors: float  # wrong bits on scored steps
    perfect: float  # fraction of sequences with no wrong bit
    num_sequences: int  # sequences the figures average over


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the step's update was not applied."""


class NonFiniteGradientError(NonFiniteLossError):
    """The loss is finite but a gradient is NaN or infinite (float32 overflow in the backward
    through a long sequence, say); the step's update was not applied, the parameters are as they
    were."""


def make_envs(env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None):
    """``gymnasium.make_vec`` with the env's native vector entry point when it has one.

    ``env_id`` is a registered id ("memtasks/Copy-v0") or the module form Gymnasium's ``make``
    takes, "module:id" ("memtasks:memtasks/Copy-v0"): the module is imported first, so that it
    registers its ids. An unknown module is a ValueError.
    """
    import memtasks  # noqa: F401  (registers the memtasks ids)

    env_kwargs = dict(env_kwargs or {})
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(
                f"env {module}:{env_id}: cannot import module {module!r}: {error}"
            ) from None
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **env_kwargs)


def env_sizes(envs) -> tuple[int, int]:
    """(input size I, output size O) of a vector env that follows the memtasks convention."""
    obs_shape = envs.single_observation_space.shape
    action_space = envs.single_action_space
    if obs_shape is None or len(obs_shape) != 1:
        raise ValueError(f"expected flat observations (I,), got shape {obs_shape}")
    if not isinstance(action_space, gym.spaces.MultiBinary) or len(action_space.shape) != 1:
        raise ValueError(f"expected a MultiBinary(O) action space, got {action_space}")
    return int(obs_shape[0]), int(action_space.shape[0])


def _info_array(info: dict, key: str, env_id: str) -> np.ndarray:
    if key not in info:
        raise KeyError(
            f"the env {env_id!r} gave no info[{key!r}]: the supervised agent needs envs that "
            "put each step's target and mask in info (the memtasks convention)"
        )
    return np.asarray(info[key], dtype=np.float32)


def initial_state(circuit: torch.nn.Module, batch_size: int, memory_size: int | None = None):
    """``circuit.initial_state(batch_size)``, with ``memory_size`` slots where one is given (an
    NTM only: its memory and head weights on the first that many slots)."""
    if memory_size is None:
        return circuit.initial_state(batch_size)
    return circuit.initial_state(batch_size, memory_size)


def rollout(
    circuit: torch.nn.Module,
    envs,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    keep_states: bool = False,
    max_steps: int = 100_000,
    memory_size: int | None = None,
) -> Rollout:
    """Roll one batch of whole episodes through ``envs``, feeding predictions back as actions.

    Works under ``torch.no_grad()`` for evaluation and with autograd for training. Each row is
    padded after its episode's end (zero inputs and targets, mask 0), as a sampled batch is.
    """
    param = next(circuit.parameters())
    device, dtype = param.device, param.dtype
    env_id = getattr(getattr(envs, "spec", None), "id", str(envs))
    obs, info = envs.reset(seed=seed, options=options)
    batch = obs.shape[0]
    state = initial_state(circuit, batch, memory_size)
    alive = np.ones(batch, dtype=bool)
    lengths = np.zeros(batch, dtype=np.int64)
    inputs, targets, masks, logits_seq, states = [], [], [], [], []
    for _ in range(max_steps):
        obs = np.asarray(obs, dtype=np.float32)
        target = _info_array(info, "target", env_id)
        if not alive.all():  # after a sub-env's end: padding, as in a sampled batch
            obs, target = obs * alive[:, None], target * alive[:, None]
        x_t = torch.as_tensor(obs, device=device).to(dtype)
        logits_t, state = circuit(x_t, state)
        inputs.append(x_t)
        logits_seq.append(logits_t)
        targets.append(target)
        masks.append(_info_array(info, "mask", env_id) * alive)
        if keep_states:
            states.append(state)
        lengths += alive
        action = (logits_t.detach() > 0).to(torch.int8).cpu().numpy()
        obs, _, terminated, truncated, info = envs.step(action)
        alive &= ~(np.asarray(terminated) | np.asarray(truncated))
        if not alive.any():
            break
    else:
        raise RuntimeError(f"episodes of {env_id!r} did not end within {max_steps} steps")
    as_tensor = lambda arrays: torch.as_tensor(np.stack(arrays, 1), device=device).to(dtype)  # noqa: E731
    return Rollout(
        inputs=torch.stack(inputs, 1),
        targets=as_tensor(targets),
        mask=as_tensor(masks),
        logits=torch.stack(logits_seq, 1),
        lengths=torch.as_tensor(lengths),
        states=states if keep_states else None,
    )


BatchSampler = Callable[[int, "dict[str, Any] | None"], Any]
"""``sampler(seed, options) -> memtasks.sampling.TaskBatch`` of B whole episodes."""


def batch_sampler(envs) -> BatchSampler | None:
    """The batch that ``envs.reset(seed=seed, options=options)`` starts, drawn without the env.

    A memtasks native vector env (``memtasks.vector.BitSequenceVectorEnv``, whatever its task)
    fills its buffer at ``reset(seed=s)`` with one call of its task's sampler on the generator
    seeded with ``s``; the sampler returned here makes that same call. It gives the padded batch
    (inputs (B, T, I), targets (B, T, O), mask (B, T), lengths (B,)) that ``rollout`` collects
    step by step with that seed, T being the longest episode. None for any other env, wrapped
    native envs included (a wrapper may change what the agent sees).
    """
    from gymnasium.utils import seeding

    from memtasks.vector import BitSequenceVectorEnv

    if not isinstance(envs, BitSequenceVectorEnv):
        return None
    task, num_envs = envs.task, envs.num_envs

    def sample(seed: int, options: dict[str, Any] | None = None):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"the batch sampler needs an integer seed, got {seed!r}")
        if options and "reset_mask" in options:
            raise ValueError(
                "the batch sampler draws whole batches: options['reset_mask'] is not allowed"
            )
        generator, _ = seeding.np_random(int(seed))
        return task.sample(generator, num_envs, **task.parse_options(options))

    return sample


def unroll_batch(
    circuit: torch.nn.Module,
    sampler: BatchSampler,
    *,
    seed: int,
    options: dict[str, Any] | None = None,
    memory_size: int | None = None,
) -> Rollout:
    """Draw a batch with ``sampler`` (``batch_sampler``) and run ``circuit.unroll`` over it.

    The same Rollout (inputs, targets, mask, lengths; logits up to float rounding) as ``rollout``
    through the sampler's env with this seed, without ``states``. ``memory_size``: the batch on
    a smaller memory than the circuit's (``initial_state``).
    """
    param = next(circuit.parameters())
    device, dtype = param.device, param.dtype
    data = sampler(seed, options)

    def to_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device=device, dtype=dtype)

    inputs = to_tensor(data.inputs)  # (B, T, I)
    if memory_size is None:
        logits, _ = circuit.unroll(inputs)  # (B, T, O)
    else:
        logits, _ = circuit.unroll(inputs, initial_state(circuit, inputs.shape[0], memory_size))
    return Rollout(
        inputs=inputs,
        targets=to_tensor(data.targets),
        mask=to_tensor(data.mask),
        logits=logits,
        lengths=torch.from_numpy(np.asarray(data.lengths, dtype=np.int64)),
        states=None,
    )


def sequence_loss_bits(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Masked binary cross-entropy per sequence, in bits.

    Args:
        logits: (B, T, O). targets: (B, T, O). mask: (B, T).
    Returns:
        (B,): cross-entropy summed over the scored bits of each sequence, in bits.
    """
    nats = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
    return (nats * mask).sum(-1) / LN2


def sequence_bit_errors(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """(B,): wrong bits on the scored steps of each sequence (prediction = logit > 0)."""
    wrong = ((logits > 0).to(targets.dtype) != targets).to(mask.dtype).sum(-1)
    return (wrong * mask).sum(-1)


def batch_metrics(batch: Rollout, loss_bits: torch.Tensor | None = None) -> BatchMetrics:
    """The batch's figures; ``loss_bits`` (B,), when given, is its ``sequence_loss_bits``
    already computed (by the training step), else it is computed here."""
    with torch.no_grad():
        if loss_bits is None:
            loss_bits = sequence_loss_bits(batch.logits, batch.targets, batch.mask)
        errors = sequence_bit_errors(batch.logits, batch.targets, batch.mask)
        means = torch.stack(
            [loss_bits.mean(), errors.mean(), (errors == 0).to(errors.dtype).mean()]
        )
    loss, bit_errors, perfect = means.tolist()  # one transfer, not three
    return BatchMetrics(loss, bit_errors, perfect, num_sequences=int(errors.shape[0]))


def batch_seed(seed: int, step: int) -> int:
    """The data seed of training step ``step``: batches are a pure function of (seed, step), so a
    resumed run draws exactly the batches a straight run would."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def build_optimizer(config, parameters) -> torch.optim.Optimizer:
    """The config's optimizer over ``parameters``, in its fastest implementation for them.

    These circuits have a few dozen small tensors, so an optimizer step is bound by per-tensor
    fixed costs: RMSprop runs its ``foreach`` implementation (the same results, bit for bit, with
    fewer dispatches) and Adam its ``fused`` one (one kernel for all tensors; equal up to float
    rounding), falling back to ``foreach`` where ``fused`` is not supported. Measured on CPU, one
    thread, in interleaved rounds: Adam 316 -> 114 us per step over the DNC's parameters (its
    whole training step about 3% faster), RMSprop 342 -> 276 us over the NTM's.
    """
    parameters = list(parameters)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            parameters,
            lr=config.lr,
            alpha=config.rmsprop_alpha,
            eps=config.eps,
            momentum=config.rmsprop_momentum,
            foreach=True,
        )
    try:
        return torch.optim.Adam(parameters, lr=config.lr, eps=config.eps, fused=True)
    except RuntimeError:  # a device or dtype without the fused kernel
        return torch.optim.Adam(parameters, lr=config.lr, eps=config.eps, foreach=True)


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every element of ``tensors`` is finite, in one reduction and one sync.

    Their sum in float64 is finite exactly when every element is (float32 values cannot overflow
    it; any NaN or infinity carries through): 56 us for the DNC's parameters where a check per
    tensor took 225 us (CPU, one thread).
    """
    with torch.no_grad():
        flat = torch.cat([tensor.detach().reshape(-1) for tensor in tensors])
        return bool(torch.isfinite(flat.sum(dtype=torch.float64)))


def apply_update(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip_grad: float, *, step: int
) -> None:
    """Backward, clip the global gradient norm (when ``clip_grad`` > 0), then the optimizer step;
    nothing is applied when the loss or a gradient is not finite.

    Raises:
        NonFiniteLossError: the loss or the gradients are NaN or infinite (no update applied),
            or the update made a parameter non-finite (say, an enormous learning rate).
    """
    if not torch.isfinite(loss):
        raise NonFiniteLossError(f"loss is {loss.item()} at step {step}")
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad for p in parameters if p.grad is not None]
    # foreach: the norm in fewer dispatches. Every gradient finite but the norm infinite: the
    # squares overflowed float32 (elements past about 1e19, an exploding gradient through time),
    # so the norm is taken again in float64 and clipping scales the update down to clip_grad,
    # as it is there to (NTM repeat copy, seed 1: 3e23 at step 288, where the float32 norm was
    # inf and the run stopped).
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    if torch.isinf(norm) and all_finite(grads):
        norm = torch.nn.utils.get_total_norm([g.double() for g in grads], foreach=True)
    if torch.isfinite(norm) and clip_grad > 0:
        torch.nn.utils.clip_grads_with_norm_(parameters, clip_grad, norm, foreach=True)
    if not torch.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteGradientError(
            f"gradient norm is {norm.item()} at step {step} (loss {loss.item():.4g})"
        )
    optimizer.step()
    if not all_finite(parameters):
        raise NonFiniteLossError(
            f"the update of step {step} made parameters non-finite (learning rate too high?)"
        )


class SupervisedAgent:
    """Trains a circuit on a vector env with the masked binary cross-entropy.

    Args:
        circuit: any circuit of ``memagents.circuits`` (the interface in docs/INTERFACES.md).
        envs: a vector env of training episodes (``make_envs``).
        config: a ``TrainConfig``.
    """

    def __init__(self, circuit: torch.nn.Module, envs, config) -> None:
        self.circuit = circuit
        self.envs = envs
        self.config = config
        self.optimizer = build_optimizer(config, circuit.parameters())
        self.step = 0
        self.sequences = 0
        self.sampler = batch_sampler(envs)
        """The env's batch sampler (``batch_sampler``), or None: then each batch is a
        ``rollout``. Set it to None to train through the env step by step."""
        self.skipped = 0
        """Updates skipped so far for a non-finite gradient (``config.skip_nonfinite_steps``)."""
        self.skipped_in_a_row = 0

    @property
    def last_skipped(self) -> bool:
        """Whether the last step's update was skipped (a non-finite gradient)."""
        return self.skipped_in_a_row > 0

    def _pinned_length(self, seed: int) -> dict[str, int]:
        """``{"length": n}``, n uniform over the env's training lengths, drawn from ``seed``."""
        task = getattr(self.envs, "task", None)
        if task is None or not hasattr(task, "min_length"):
            raise ValueError(
                "same_length_batches needs a memtasks vector env (with a min_length/max_length "
                f"range), not {type(self.envs).__name__}"
            )
        low, high = task.min_length, task.max_length
        return {"length": int(np.random.default_rng(seed).integers(low, high + 1))}

    def train_memory_size(self, seed: int) -> int | None:
        """The memory slots of the batch drawn from ``seed``: uniform over
        ``config.min_train_memory_size``..the circuit's memory_size, or None (the circuit's)."""
        low = getattr(self.config, "min_train_memory_size", 0)
        if not low:
            return None
        high = self.circuit.access.memory_size
        return int(np.random.default_rng([seed, 1]).integers(low, high + 1))

    def train_step(self) -> tuple[BatchMetrics, float]:
        """One update on a fresh batch. Returns its metrics and the milliseconds per sequence.

        A batch whose gradient is not finite (its loss is) is skipped, its update not applied,
        while no more than ``config.skip_nonfinite_steps`` such batches come in a row; the step
        still counts, so the next batch is a new one (``last_skipped`` says which steps were).

        Raises:
            NonFiniteLossError: the loss is NaN or infinite, or the gradient is and no skip is
                left (no update is applied).
        """
        start = time.perf_counter()
        self.circuit.train()
        seed = batch_seed(self.config.seed, self.step)
        options = self._pinned_length(seed) if self.config.same_length_batches else None
        slots = self.train_memory_size(seed)
        if self.sampler is not None:
            batch = unroll_batch(
                self.circuit, self.sampler, seed=seed, options=options, memory_size=slots
            )
        else:
            batch = rollout(self.circuit, self.envs, seed=seed, options=options, memory_size=slots)
        per_sequence = sequence_loss_bits(batch.logits, batch.targets, batch.mask)
        loss = per_sequence.mean()
        try:
            apply_update(self.optimizer, loss, self.config.clip_grad, step=self.step)
            self.skipped_in_a_row = 0
        except NonFiniteGradientError as error:
            if self.skipped_in_a_row >= self.config.skip_nonfinite_steps:
                raise
            self.skipped_in_a_row += 1
            self.skipped += 1
            log.warning("skipped the update: %s (%d skipped in all)", error, self.skipped)
        self.step += 1
        self.sequences += batch.targets.shape[0]
        metrics = batch_metrics(batch, per_sequence.detach())
        # The whole step, its figures included: what scripts/bench_circuits.py's headline times.
        elapsed_ms = 1000.0 * (time.perf_counter() - start) / batch.targets.shape[0]
        return metrics, elapsed_ms


@torch.no_grad()
def evaluate(
    circuit: torch.nn.Module,
    envs,
    num_sequences: int,
    *,
    seed: int,
    options: dict[str, Any] | None = None,
    stepwise: bool = False,
) -> BatchMetrics:
    """Mean figures over at least ``num_sequences`` episodes (whole batches of ``envs``).

    Batches come from the env's batch sampler through ``circuit.unroll`` when it has one
    (``batch_sampler``), else from ``rollout``; ``stepwise=True`` always rolls through the env.
    """
    circuit.eval()
    batch_size = envs.num_envs
    sampler = None if stepwise else batch_sampler(envs)
    totals = np.zeros(3)
    count = 0
    batch_index = 0
    while count < num_sequences:
        data_seed = batch_seed(seed, batch_index)
        if sampler is not None:
            batch = unroll_batch(circuit, sampler, seed=data_seed, options=options)
        else:
            batch = rollout(circuit, envs, seed=data_seed, options=options)
        metrics = batch_metrics(batch)
        totals += np.array([metrics.loss_bits, metrics.bit_errors, metrics.perfect]) * batch_size
        count += batch_size
        batch_index += 1
    loss, errors, perfect = totals / count
    return BatchMetrics(float(loss), float(errors), float(perfect), count)
