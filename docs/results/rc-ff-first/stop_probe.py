"""What compresses a feed-forward NTM's repeat-copy stop past ten: two interventions at test time.

Asked for 20 repeats, the feed-forward NTMs of section 13 stop after 14-15. Two parts of the
circuit could squash a count that grows past the training range, and each can be switched off
in a trained model without retraining:

- the controller's ReLU clip at 20 (`FeedforwardController.clip_value`): removed (1e9);
- the memory's erase: a counter kept in a memory row that is partly erased at each visit leaks,
  and a leaky counter levels off. Here every write head's erase vector is held at 0 from the
  count's step on (the items are written as trained).

For each checkpoint and condition (length, repeats), over 20 episodes (data seeds 0..19): where
the circuit first raises the end marker, in repetitions (median; inf where it never does), as
trained and under each intervention; the mean bit errors per episode as trained; and the share of
the controller's pre-activations above the clip from the count's step on, as trained.

    python docs/results/rc-ff-first/stop_probe.py \
        '/work/sweeps/ntm-repeat-copy-ff-first/*seed=[235]_*/run/checkpoints/last.pt'
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import torch

from memagents.evaluation import checkpoint_label, load_circuit, trace_episode

CONDITIONS = [(10, 10), (2, 20), (5, 20), (10, 15), (10, 20)]
EPISODES = 20


def episode_figures(loaded, length: int, repeats: int, *, no_clip: bool, no_erase: bool):
    """(stop in repetitions, bit errors, share of pre-activations above the clip) over the
    episodes."""
    circuit = loaded.circuit
    controller = circuit.controller
    trained_clip = controller.clip_value
    erase = circuit.access.layout.field("erase")
    pre_activations: list[np.ndarray] = []
    steps = [0]

    def interface_hook(module, inputs, output):
        steps[0] += 1
        if no_erase and steps[0] > length + 1:  # call t + 1 is step t; the count is step L + 1
            output = output.clone()
            output[:, erase.offset : erase.offset + erase.size] = -50.0  # sigmoid -> 0
            return output
        return None

    step = type(controller).step

    def traced_step(self, projected_input, prev_reads, prev_state):
        pre = torch.addmm(projected_input, prev_reads, self.reads_weight.t())
        pre_activations.append(pre[0].detach().numpy().copy())
        return step(self, projected_input, prev_reads, prev_state)

    controller.step = traced_step.__get__(controller)
    controller.clip_value = 1e9 if no_clip else trained_clip
    handle = circuit.access.interface.register_forward_hook(interface_hook)
    stops, errors, above = [], [], []
    try:
        for seed in range(EPISODES):
            pre_activations.clear()
            steps[0] = 0
            trace = trace_episode(circuit, loaded.config, length=length, repeats=repeats, seed=seed)
            recall = np.nonzero(trace.mask)[0]
            raised = trace.outputs[recall] > 0.5
            ends = np.nonzero(raised[:, -1])[0]
            stops.append(ends[0] / length if len(ends) else np.inf)
            errors.append((raised != (trace.targets[recall] > 0.5)).sum())
            above.append((np.stack(pre_activations)[length + 1 :] > trained_clip).mean())
    finally:
        handle.remove()
        del controller.step
        controller.clip_value = trained_clip
    return float(np.median(stops)), float(np.mean(errors)), float(np.mean(above))


def main(pattern: str) -> None:
    torch.set_num_threads(1)
    print(
        "| checkpoint | length, repeats | bit errors | stop (repetitions) | stop, no ReLU clip | "
        "stop, erase held at 0 | pre-activations above 20 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(pattern)):
        loaded = load_circuit(path)
        for length, repeats in CONDITIONS:
            stop, errors, above = episode_figures(
                loaded, length, repeats, no_clip=False, no_erase=False
            )
            no_clip, _, _ = episode_figures(loaded, length, repeats, no_clip=True, no_erase=False)
            no_erase, _, _ = episode_figures(loaded, length, repeats, no_clip=False, no_erase=True)
            print(
                f"| {checkpoint_label(path)} | {length}, {repeats} | {errors:.1f} | {stop:.1f} | "
                f"{no_clip:.1f} | {no_erase:.1f} | {100 * above:.1f}% |"
            )
    print(
        f"\n{EPISODES} episodes per condition (data seeds 0..{EPISODES - 1}). Made by `python "
        f"docs/results/rc-ff-first/stop_probe.py '{pattern}'`."
    )


if __name__ == "__main__":
    main(sys.argv[1])
