"""Memory circuits as reinforcement-learning policies (PPO / REINFORCE on the memtasks envs).

Shapes: B batch (episodes in parallel), T time steps, I input size, O output size.

A circuit's logits (B, O) are read as O independent Bernoulli bits: the policy samples the action
``a_t ~ Bernoulli(sigmoid(logits_t))``, feeds it to the env, and learns from the env's reward
alone (``reward_mode="bit"``, ``"vector"`` or ``"sparse"``; never from ``info["target"]``). The
method is PPO (or, with one epoch, REINFORCE) with a learned baseline: the advantage of step t
is the reward-to-go ``G_t`` minus ``b_t``, a moving average of the reward-to-go of step t over
past batches (bias-corrected at the start), optionally normalised over the batch; an entropy
bonus keeps the bits exploring (a bit the policy is sure of gets no more gradient, right or wrong).
Unlike the supervised agent the policy is not told which steps are scored: it learns that from
the rewards.

Rolling a batch follows ``memagents.agent.rollout``: ``envs.reset(seed=...)``, step until every
sub-env has ended its first episode, and mask every step after a sub-env's own end. The shared
pieces (``batch_seed``, ``build_optimizer``, ``apply_update``) come from ``memagents.agent``.

The wrappers that adapt ``MultiBinary(O)`` actions for libraries that cannot take them live in
``memtasks.wrappers`` (see docs/RL.md).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from memagents.agent import apply_update, batch_seed, build_optimizer
from memagents.config import (
    OptimizerConfig,
    RunConfig,
    check_fields,
    circuit_config,
    config_from_dict,
    freeze_dicts,
    plain_data,
)

RL_REWARD_MODES = ("bit", "vector", "sparse")

DEFAULT_CIRCUIT_KWARGS: dict[str, dict[str, Any]] = {
    "lstm": dict(hidden_size=64, num_layers=1),
    "ntm": dict(memory_size=16, word_size=8, controller_size=64),
    "dnc": dict(memory_size=16, word_size=8, controller_size=64, num_reads=2),
}
"""Small circuits for the small RL copy task; ``circuit_kwargs`` override them key by key."""


@dataclass(frozen=True)
class RLConfig(OptimizerConfig, RunConfig):
    """Everything that defines a policy-gradient training run (with the fields of
    OptimizerConfig and RunConfig). ``DEFAULT_RL_CONFIG`` is what ``scripts/train_rl.py`` trains
    when given no flags."""

    agent: str = "ntm"
    """Circuit: ``ntm``, ``dnc`` or ``lstm``; its logits are the policy's Bernoulli logits."""
    env_id: str = "memtasks/Copy-Easy-v0"
    """A registered id that follows the memtasks convention (MultiBinary(O) actions); a level
    (``...-Easy-v0``) brings its own settings."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the task over the id's own (without ``reward_mode``, which has its
    own field): empty, so ``--env`` alone trains the task the id registers."""
    reward_mode: str = "bit"
    """The env's reward: ``bit``, ``vector`` or ``sparse`` (each pays 1.0 for a perfect episode)."""
    circuit_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overrides of ``DEFAULT_CIRCUIT_KWARGS[agent]``."""
    batch_size: int = 32
    """Episodes per update, rolled in parallel through the native vector env."""
    gamma: float = 1.0
    """Discount of the reward-to-go (1.0: the undiscounted return the envs are scored by)."""
    baseline_decay: float = 0.9
    """Decay of the per-step moving-average baseline (0: the previous batch's mean alone)."""
    normalize_advantages: bool = True
    """Divide the advantages by their standard deviation over the batch's steps (after centring)."""
    ppo_epochs: int = 4
    """Updates per batch with PPO's clipped objective (the batch replayed through ``unroll``);
    1 is plain REINFORCE (one update at ratio 1: the same gradient)."""
    clip_ratio: float = 0.2
    """PPO's clip range: the probability ratio of a step's bits counts within 1 +- clip_ratio."""
    entropy_coef: float = 0.15
    """Weight of the entropy bonus (bits of entropy summed over a step's O actions)."""
    eval_episodes: int = 256
    """Episodes per evaluation, drawn with a fixed seed so evaluations compare."""
    solved_return: float = 0.95
    """Solved: the mean return of the training episodes over a log window exceeds this."""

    def __post_init__(self) -> None:
        freeze_dicts(self, "env_kwargs", "circuit_kwargs")
        checks = [
            ("agent", self.agent in DEFAULT_CIRCUIT_KWARGS, "ntm, dnc or lstm"),
            ("env_id", isinstance(self.env_id, str) and bool(self.env_id), "a Gymnasium id"),
            ("reward_mode", self.reward_mode in RL_REWARD_MODES, f"one of {RL_REWARD_MODES}"),
            ("batch_size", 1 <= self.batch_size <= 65_536, "in 1..65536"),
            ("gamma", 0 <= self.gamma <= 1, "in [0, 1]"),
            ("baseline_decay", 0 <= self.baseline_decay < 1, "in [0, 1)"),
            ("ppo_epochs", self.ppo_epochs >= 1, ">= 1"),
            ("clip_ratio", self.clip_ratio > 0 and math.isfinite(self.clip_ratio), "finite, > 0"),
            ("entropy_coef", 0 <= self.entropy_coef < math.inf, "finite, >= 0"),
            ("eval_episodes", 1 <= self.eval_episodes <= 10**7, "in 1..10**7"),
            ("solved_return", math.isfinite(self.solved_return), "finite"),
        ]
        check_fields(self._optimizer_checks() + self._run_checks() + checks, self)
        if "reward_mode" in self.env_kwargs:
            raise ValueError(
                "give the reward mode as reward_mode (--reward-mode), not in env_kwargs"
            )
        circuit_config(self.agent, self.full_circuit_kwargs)

    @property
    def task_kwargs(self) -> dict[str, Any]:
        """The task's kwargs with the reward mode: what ``make_envs`` gets."""
        return {**self.env_kwargs, "reward_mode": self.reward_mode}

    @property
    def train_task_kwargs(self) -> dict[str, Any]:
        """What ``make_envs`` gets for the training episodes: the same task as the evaluations."""
        return self.task_kwargs

    @property
    def full_circuit_kwargs(self) -> dict[str, Any]:
        """``DEFAULT_CIRCUIT_KWARGS[agent]`` with ``circuit_kwargs`` applied."""
        return {**DEFAULT_CIRCUIT_KWARGS[self.agent], **self.circuit_kwargs}

    @property
    def circuit(self):
        """The typed config of the policy's circuit."""
        return circuit_config(self.agent, self.full_circuit_kwargs)

    def to_dict(self) -> dict[str, Any]:
        return plain_data(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RLConfig:
        return config_from_dict(cls, data)


DEFAULT_RL_CONFIG = RLConfig(
    optimizer="adam",
    lr=1e-3,
    eps=1e-8,
    clip_grad=10.0,
    max_steps=5_000,
    eval_every=100,
    log_every=20,
)
"""What ``scripts/train_rl.py`` trains with no flags: a small NTM policy on Copy-Easy-v0 (2 bits,
lengths 2..3), PPO with Adam at 1e-3."""


class PolicyRollout(NamedTuple):
    """One batch of whole episodes played by a Bernoulli policy (first episode of each sub-env)."""

    inputs: torch.Tensor  # (B, T, I): the observations the policy saw
    log_probs: torch.Tensor  # (B, T): log-probability of the step's O sampled bits
    entropy: torch.Tensor  # (B, T): entropy of the step's O Bernoulli bits, in nats
    actions: torch.Tensor  # (B, T, O): the bits played
    rewards: torch.Tensor  # (B, T): env rewards, 0 after each episode's end
    mask: torch.Tensor  # (B, T): 1 on the steps of each episode, 0 after its end
    lengths: torch.Tensor  # (B,): steps of each episode
    bit_errors: torch.Tensor  # (B,): the env's final info["bit_errors"] (NaN if it gives none)

    @property
    def returns(self) -> torch.Tensor:
        """(B,): the return of each episode."""
        return self.rewards.sum(-1)


class PolicyMetrics(NamedTuple):
    """Per-episode figures, averaged over the batch."""

    episode_return: float  # mean return (1.0 is a perfect episode in every RL reward mode)
    bit_errors: float  # wrong bits on scored steps, from the env's final info
    perfect: float  # fraction of episodes with no wrong bit
    num_episodes: int


def policy_rollout(
    circuit: torch.nn.Module,
    envs,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    greedy: bool = False,
    max_steps: int = 100_000,
) -> PolicyRollout:
    """Play one batch of whole episodes with actions ~ Bernoulli(sigmoid(logits)).

    ``greedy=True`` plays the most likely bits (logit > 0) instead of sampling. Sampling uses
    torch's global generator. Works with autograd (training) and under ``torch.no_grad()``.
    """
    param = next(circuit.parameters())
    device, dtype = param.device, param.dtype
    obs, _ = envs.reset(seed=seed, options=options)
    batch = obs.shape[0]
    state = circuit.initial_state(batch)
    alive = np.ones(batch, dtype=bool)
    bit_errors = np.full(batch, np.nan)
    inputs, log_probs, entropies, actions, rewards, masks = [], [], [], [], [], []
    for _ in range(max_steps):
        x_t = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=device).to(dtype)
        logits_t, state = circuit(x_t, state)
        inputs.append(x_t)
        policy = torch.distributions.Bernoulli(logits=logits_t)
        action_t = (logits_t.detach() > 0).to(dtype) if greedy else policy.sample()
        log_probs.append(policy.log_prob(action_t).sum(-1))
        entropies.append(policy.entropy().sum(-1))
        actions.append(action_t)
        masks.append(alive.copy())
        obs, reward, terminated, truncated, info = envs.step(action_t.to(torch.int8).cpu().numpy())
        rewards.append(np.asarray(reward, dtype=np.float64) * alive)
        ending = (np.asarray(terminated) | np.asarray(truncated)) & alive
        if ending.any() and "bit_errors" in info:
            bit_errors[ending] = np.asarray(info["bit_errors"])[ending]
        alive &= ~ending
        if not alive.any():
            break
    else:
        raise RuntimeError(f"episodes did not end within {max_steps} steps")
    as_tensor = lambda arrays: torch.as_tensor(np.stack(arrays, 1), device=device).to(dtype)  # noqa: E731
    mask = as_tensor(masks)
    return PolicyRollout(
        inputs=torch.stack(inputs, 1),
        log_probs=torch.stack(log_probs, 1),
        entropy=torch.stack(entropies, 1),
        actions=torch.stack(actions, 1),
        rewards=as_tensor(rewards),
        mask=mask,
        lengths=mask.sum(-1).long(),
        bit_errors=torch.as_tensor(bit_errors, device=device).to(dtype),
    )


def rollout_metrics(batch: PolicyRollout) -> PolicyMetrics:
    errors = batch.bit_errors
    return PolicyMetrics(
        episode_return=batch.returns.mean().item(),
        bit_errors=errors.mean().item(),
        perfect=(errors == 0).to(errors.dtype).mean().item(),
        num_episodes=int(errors.shape[0]),
    )


def rewards_to_go(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """(B, T) rewards and mask -> (B, T): G_t = sum_{k >= t} gamma^(k - t) r_k, 0 where masked."""
    rewards = rewards * mask  # the mask is a prefix: nothing after an episode's end counts
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns * mask


class StepBaseline:
    """b_t: a bias-corrected exponential moving average of the reward-to-go of step t.

    ``value(T)`` gives (T,) for the steps seen so far (NaN for steps never seen);
    ``update(returns (B, T), mask (B, T))`` folds in one batch's masked means.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.average = np.zeros(0)
        self.weight = np.zeros(0)  # 1 - decay^n after n updates: the bias correction

    def _grow(self, length: int) -> None:
        if length > self.average.shape[0]:
            extra = length - self.average.shape[0]
            self.average = np.concatenate([self.average, np.zeros(extra)])
            self.weight = np.concatenate([self.weight, np.zeros(extra)])

    def value(self, length: int) -> np.ndarray:
        self._grow(length)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.weight[:length] > 0, self.average[:length] / self.weight[:length], np.nan
            )

    def update(self, returns: torch.Tensor, mask: torch.Tensor) -> None:
        length = returns.shape[1]
        self._grow(length)
        counts = mask.sum(0).cpu().double().numpy()
        sums = (returns * mask).sum(0).cpu().double().numpy()
        seen = counts > 0
        means = np.divide(sums, counts, out=np.zeros(length), where=seen)
        average, weight = self.average[:length], self.weight[:length]
        average[seen] = self.decay * average[seen] + (1 - self.decay) * means[seen]
        weight[seen] = self.decay * weight[seen] + (1 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "average": torch.from_numpy(self.average.copy()),
            "weight": torch.from_numpy(self.weight.copy()),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.average = state["average"].numpy().astype(np.float64)
        self.weight = state["weight"].numpy().astype(np.float64)


def advantages(
    batch: PolicyRollout, baseline: StepBaseline, gamma: float, normalize: bool
) -> torch.Tensor:
    """(B, T): reward-to-go minus the baseline (the batch's own mean for steps never seen)."""
    returns = rewards_to_go(batch.rewards, batch.mask, gamma)
    mask = batch.mask
    length = returns.shape[1]
    batch_mean = ((returns * mask).sum(0) / mask.sum(0).clamp(min=1)).cpu().double().numpy()
    value = baseline.value(length)
    value = np.where(np.isnan(value), batch_mean, value)
    advantage = (returns - torch.as_tensor(value, device=returns.device).to(returns.dtype)) * mask
    baseline.update(returns, mask)
    if normalize:
        count = mask.sum().clamp(min=2)
        centred = (advantage - advantage.sum() / count) * mask
        std = (centred.square().sum() / (count - 1)).sqrt()
        advantage = centred / (std + 1e-8)
    return advantage


def policy_loss(
    circuit: torch.nn.Module,
    batch: PolicyRollout,
    advantage: torch.Tensor,
    clip_ratio: float,
    entropy_coef: float,
) -> torch.Tensor:
    """PPO's clipped surrogate on a stored batch, replayed through ``circuit.unroll``.

    The ratio is that of the step's joint probability of its O bits. At the parameters that
    played the batch the ratio is 1 and the gradient is REINFORCE's.
    """
    logits, _ = circuit.unroll(batch.inputs)
    policy = torch.distributions.Bernoulli(logits=logits)
    log_probs = policy.log_prob(batch.actions).sum(-1)  # (B, T)
    ratio = torch.exp(log_probs - batch.log_probs.detach())
    clipped = ratio.clamp(1.0 - clip_ratio, 1.0 + clip_ratio)
    surrogate = torch.minimum(ratio * advantage, clipped * advantage)
    episodes = batch.mask.shape[0]
    loss = -(surrogate * batch.mask).sum() / episodes
    if entropy_coef > 0:
        loss = loss - entropy_coef * (policy.entropy().sum(-1) * batch.mask).sum() / episodes
    return loss


class PolicyGradientAgent:
    """Trains a circuit as a Bernoulli policy: PPO (clipped, ``ppo_epochs`` updates per batch)
    or, with ``ppo_epochs=1``, REINFORCE; both with the per-step moving-average baseline.

    Args:
        circuit: any circuit of ``memagents.circuits``.
        envs: a vector env of training episodes with an RL reward mode (``make_envs``).
        config: an ``RLConfig``.
    """

    def __init__(self, circuit: torch.nn.Module, envs, config: RLConfig) -> None:
        self.circuit = circuit
        self.envs = envs
        self.config = config
        self.optimizer = build_optimizer(config, circuit.parameters())
        self.baseline = StepBaseline(config.baseline_decay)
        self.step = 0
        self.episodes = 0

    def train_step(self) -> tuple[PolicyMetrics, float]:
        """Play one fresh batch and update on it. Returns its metrics and ms per episode.

        Raises:
            NonFiniteLossError: the loss is NaN or infinite (that update is not applied).
        """
        config = self.config
        start = time.perf_counter()
        self.circuit.train()
        with torch.no_grad():
            batch = policy_rollout(self.circuit, self.envs, seed=batch_seed(config.seed, self.step))
        advantage = advantages(batch, self.baseline, config.gamma, config.normalize_advantages)
        for _ in range(config.ppo_epochs):
            loss = policy_loss(
                self.circuit, batch, advantage, config.clip_ratio, config.entropy_coef
            )
            apply_update(self.optimizer, loss, config.clip_grad, step=self.step)
        self.step += 1
        episodes = batch.mask.shape[0]
        self.episodes += episodes
        elapsed_ms = 1000.0 * (time.perf_counter() - start) / episodes
        return rollout_metrics(batch), elapsed_ms


@torch.no_grad()
def evaluate_policy(
    circuit: torch.nn.Module,
    envs,
    num_episodes: int,
    *,
    seed: int,
    greedy: bool = True,
    options: dict[str, Any] | None = None,
) -> PolicyMetrics:
    """Mean figures over at least ``num_episodes`` episodes (whole batches of ``envs``).

    Sampled actions (``greedy=False``) draw from torch's global generator: the caller's stream
    moves on, so a training run evaluates greedily only.
    """
    circuit.eval()
    totals = np.zeros(3)
    count = 0
    index = 0
    while count < num_episodes:
        batch = policy_rollout(
            circuit, envs, seed=batch_seed(seed, index), greedy=greedy, options=options
        )
        metrics = rollout_metrics(batch)
        size = metrics.num_episodes
        totals += np.array([metrics.episode_return, metrics.bit_errors, metrics.perfect]) * size
        count += size
        index += 1
    episode_return, errors, perfect = totals / count
    return PolicyMetrics(float(episode_return), float(errors), float(perfect), count)
