"""Why seed 2 of rc-linear-first stopped on a NaN gradient at step 498: its batch, on every path.

    python docs/results/rc-linear-first/nan_trace.py > docs/results/rc-linear-first/nan-trace.txt

Trains seed 2 of `ntm-repeat-copy` (count / 10, every head on slot 0) to step 498 as the sweep
did (one thread, the fused sequence), then takes the gradient of step 498's batch on the fused
sequence, the step-by-step C kernel and the torch ops, in float32 and float64; then, on the torch
ops, the largest gradient reaching each step's sharpening (NTM eq. 9) back through time.
"""

from __future__ import annotations

import copy

import torch

import memagents.addressing as addressing
from memagents.agent import batch_seed, sequence_loss_bits, unroll_batch
from memagents.config import resolve_config
from memagents.training import SupervisedTrainer

STEP = 498

torch.set_num_threads(1)
settings = {"env_kwargs": {"normalisation": "linear"}, "circuit_kwargs": {"head_start": "first"},
            "seed": 2, "num_threads": 1}  # fmt: skip
config = resolve_config(None, "ntm-repeat-copy", settings)
agent = SupervisedTrainer(config).agent
while agent.step < STEP:
    agent.train_step()
seed = batch_seed(config.seed, STEP)
options = agent._pinned_length(seed)
print(f"step {STEP}: a batch of length {options['length']}")


def gradients(dtype, fused, kernel, record=None):
    circuit = copy.deepcopy(agent.circuit).to(dtype)
    circuit.fused_unroll, circuit.access.use_kernel = fused, kernel
    batch = unroll_batch(circuit, agent.sampler, seed=seed, options=options)
    loss = sequence_loss_bits(batch.logits, batch.targets.to(dtype), batch.mask).mean()
    loss.backward()
    grads = torch.cat([p.grad.flatten().double() for p in circuit.parameters()])
    return loss.item(), bool(grads.isfinite().all()), grads.abs().max().item()


print("| path | dtype | loss | every gradient finite | largest |")
print("| --- | --- | --- | --- | --- |")
for name, fused, kernel in [("fused sequence", True, True), ("C kernel, step by step", False, True),
                            ("torch ops", False, False)]:  # fmt: skip
    for dtype in (torch.float32, torch.float64):
        loss, finite, largest = gradients(dtype, fused, kernel)
        print(f"| {name} | {dtype} | {loss:.4f} | {finite} | {largest:.3g} |")

print()
print("Back through time on the torch ops: the largest gradient reaching the sharpening's input")
print("at each step (every 4th step), and the largest gamma of the two heads there.")
sharpen = addressing.sharpen
for dtype in (torch.float64, torch.float32):
    steps = []

    def recording(weights, gammas, eps=addressing.EPSILON, steps=steps):
        entry = [gammas.detach().max().item(), float("nan")]
        steps.append(entry)
        weights.register_hook(
            lambda grad, entry=entry: entry.__setitem__(1, grad.abs().max().item())
        )
        return sharpen(weights, gammas, eps)

    addressing.sharpen = recording
    try:
        gradients(dtype, fused=False, kernel=False)
    finally:
        addressing.sharpen = sharpen
    figures = [f"step {t}: {g:.3g} (gamma {gamma:.1f})" for t, (gamma, g) in enumerate(steps)]
    print(f"{dtype}: " + ", ".join(figures[::4]))
