"""The presets of associative recall, dynamic N-grams and priority sort build and take a step.

Each preset's task and circuit are made from the preset alone, a batch of the task's own sampler
goes through the circuit, and one gradient step changes the weights with finite values. The
multi-head NTM of priority sort (8 read + 8 write heads) must run its step on the fused kernel
where the kernel is available.
"""

import numpy as np
import pytest
import torch

import memtasks  # noqa: F401  (registers the ids)
from memagents.circuits import build_circuit
from memagents.config import PRESETS, resolve_config

PAPER_TASKS = ("AssociativeRecall", "DynamicNGrams", "PrioritySort")
NEW_PRESETS = sorted(
    name for name, config in PRESETS.items() if any(task in config.env_id for task in PAPER_TASKS)
)


def test_every_task_has_an_ntm_dnc_and_lstm_preset():
    assert len(NEW_PRESETS) >= 9
    for task, short in zip(
        PAPER_TASKS, ("associative-recall", "ngrams", "priority-sort"), strict=True
    ):
        for agent in ("ntm", "dnc", "lstm"):
            assert PRESETS[f"{agent}-{short}"].env_id == f"memtasks/{task}-v0"
            assert PRESETS[f"{agent}-{short}"].agent == agent
    priority = PRESETS["ntm-priority-sort"].circuit_kwargs
    assert (priority["num_reads"], priority["num_writes"], priority["controller"]) == (
        8,
        8,
        "feedforward",
    )
    assert PRESETS["ntm-ff-associative-recall"].circuit_kwargs["controller"] == "feedforward"
    for name in NEW_PRESETS:  # a prediction task is never "solved": those runs go on
        assert PRESETS[name].stop_when_solved is ("ngrams" not in name)


@pytest.mark.parametrize("name", NEW_PRESETS)
def test_preset_builds_and_takes_a_gradient_step(name):
    import gymnasium as gym

    torch.manual_seed(0)
    config = resolve_config(None, name)
    env = gym.make_vec(
        config.env_id, 2, vectorization_mode="vector_entry_point", **config.env_kwargs
    )
    task = env.unwrapped.task
    circuit = build_circuit(
        config.agent, task.input_size, task.output_size, **config.circuit_kwargs
    )
    short = {"items": 2} if "associative" in name else {"length": 20} if "ngrams" in name else {}
    if "sort" in name:
        short = {"num_inputs": 4, "num_outputs": 3}
    batch = task.sample(np.random.default_rng(0), 2, **task.parse_options(short))
    inputs, targets = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)
    mask = torch.from_numpy(batch.mask)
    logits, _ = circuit.unroll(inputs)
    assert logits.shape == targets.shape
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    loss = (loss.sum(-1) * mask).sum(-1).mean()
    before = [p.detach().clone() for p in circuit.parameters()]
    optimizer = torch.optim.RMSprop(circuit.parameters(), lr=1e-3)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in circuit.parameters() if p.grad is not None)
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, circuit.parameters(), strict=True))
    if config.agent == "ntm":  # where a one-head NTM runs the fused kernel, so do these
        reference = build_circuit("ntm", task.input_size, task.output_size)
        assert circuit.access.uses_kernel(inputs) == reference.access.uses_kernel(inputs)
