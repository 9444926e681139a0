"""scripts/head_traces.py: the per-episode figures on a hand-made copy episode, and the CLI."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from memagents.checkpoint import save_checkpoint
from memagents.config import resolve_config
from memagents.evaluation import EpisodeTrace, checkpoint_label
from memagents.training import SupervisedTrainer

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("head_traces", ROOT / "scripts/head_traces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_trace(
    length=4, slots=10, start=3, read_start=3, overwrite=False, leak=0.0
) -> EpisodeTrace:
    """A copy episode done by hand: the write head writes item i to slot start + i, the read head
    waits on the unwritten rows, then reads from read_start on, keeping 1 - leak of its mass
    from one recall step to the next (as a DNC's read modes can)."""
    steps, bits = 2 * length + 1, 2
    write = np.zeros((steps, 1, slots))
    read = np.zeros((steps, 1, slots))
    memory = np.zeros((steps, slots, bits))
    items = np.ones((length, bits))
    for t in range(steps):
        if t < length:
            write[t, 0, (start + t) % slots] = 1
            memory[t:, (start + t) % slots] = items[t]
            unwritten = [n for n in range(slots) if memory[t, n].sum() == 0]
            read[t, 0, unwritten] = 1 / len(unwritten)
        elif t > length:
            read[t, 0, (read_start + t - length - 1) % slots] = (1 - leak) ** (t - length - 1)
            write[t, 0, (start + length) % slots] = 1
    if overwrite:
        memory[-1, start] = 3 * items[0]
    mask = np.r_[np.zeros(length + 1), np.ones(length)]
    targets = np.zeros((steps, bits))
    targets[length + 1 :] = items
    outputs = targets.copy()
    outputs[-1, 0] = 0.0  # one wrong bit
    return EpisodeTrace(None, targets, mask, outputs, write, read, memory)


def test_episode_figures_of_a_hand_made_episode():
    figures = load_script().episode_figures(copy_trace(), 4)
    assert figures["bit_errors"] == 1 and figures["perfect"] == 0
    assert figures["start_found"] == 1
    assert figures["start_offset"] == 0 and figures["start_peak"] == 1
    assert figures["unwritten_mass"] == 1.0  # the read head sat on unwritten rows only
    assert figures["unwritten_rows"] == 10 - 4
    assert figures["overwritten"] == 0
    assert figures["first_wrong"] == 3  # the last of the 4 recall steps
    assert figures["end_mass"] == 1.0 and figures["first_write_peak"] == 1.0
    figures = load_script().episode_figures(copy_trace(read_start=2, overwrite=True, leak=0.5), 4)
    assert figures["end_mass"] == 0.5**3  # three recall steps after the first
    assert figures["start_found"] == 0
    assert figures["start_offset"] == -1  # one slot before the start (3)
    assert figures["overwritten"] > 0


def test_the_cli_traces_a_checkpoint_and_refuses_other_circuits(tmp_path, capsys):
    tiny = {"ntm": dict(memory_size=16, word_size=4, controller_size=8),
            "dnc": dict(memory_size=16, word_size=4, controller_size=8),
            "lstm": dict(hidden_size=8, num_layers=1)}  # fmt: skip
    for name, sizes in tiny.items():
        preset = "dnc-copy" if name == "dnc" else None  # --agent dnc alone: the seed's task
        config = resolve_config(name, preset, {"circuit_kwargs": sizes})
        save_checkpoint(tmp_path / f"{name}.pt", SupervisedTrainer(config).checkpoint(0.0))
    script = load_script()
    out = tmp_path / "table.md"
    assert script.main(["--checkpoint", str(tmp_path / "ntm.pt"), "--lengths", "3", "5",
                        "--episodes", "2", "--out", str(out)]) == 0  # fmt: skip
    table = out.read_text()
    assert table.count("| 3 |") == 1 and table.count("| 5 |") == 1
    assert "Made by `python scripts/head_traces.py --checkpoint" in table
    assert script.main(["--checkpoint", str(tmp_path / "dnc.pt"), "--lengths", "3",
                        "--episodes", "2", "--out", str(out)]) == 0  # fmt: skip
    assert out.read_text().count("| 3 |") == 1
    assert script.main(["--checkpoint", str(tmp_path / "lstm.pt")]) == 2
    assert "needs an NTM or a DNC" in capsys.readouterr().err
    wide = ["--checkpoint", str(tmp_path / "ntm.pt"), "--lengths", "3", "--episodes", "1"]
    assert script.main([*wide, "--memory-size", "24", "--out", str(out)]) == 0
    assert "every checkpoint with 24 memory slots" in out.read_text()
    assert script.main([*wide, "--memory-size", "0"]) == 2
    assert re.search(r"memory_size must be an integer in 1\.\.\d+, got 0", capsys.readouterr().err)


def test_a_sweep_trials_checkpoint_is_named_by_its_settings(tmp_path):
    trial = tmp_path / "train_trial_0"
    (trial / "run" / "checkpoints").mkdir(parents=True)
    (trial / "params.json").write_text('{"seed": 2, "preset": "ntm-copy"}')
    assert checkpoint_label(trial / "run/checkpoints/last.pt") == "preset=ntm-copy, seed=2"
    assert checkpoint_label(tmp_path / "x.pt") == str(tmp_path / "x.pt")


def repeat_trace(length=3, repeats=2, slots=8, lose_at=None, walk=False) -> EpisodeTrace:
    """A repeat-copy episode done by hand: items 1..L written to slots 2.., read in a loop; from
    output step `lose_at` on the read head sits on slot 0 and the outputs are wrong. With `walk`
    the write head goes on one slot a step during the output, writing 5s (round the memory)."""
    outputs = length * repeats
    steps, bits = length + 3 + outputs, 2
    write = np.zeros((steps, 1, slots))
    read = np.zeros((steps, 1, slots))
    memory = np.zeros((steps, slots, 2))
    for t in range(1, length + 1):
        write[t, 0, 1 + t] = 1
        memory[t:, 1 + t] = 1.0
    if walk:
        for j in range(outputs):
            t = length + 2 + j
            write[t, 0, (2 + length + j) % slots] = 1
            memory[t:, (2 + length + j) % slots] = 5.0
    targets = np.zeros((steps, bits + 1))
    mask = np.zeros(steps)
    for j in range(outputs):
        t = length + 2 + j
        lost = lose_at is not None and j >= lose_at
        read[t, 0, 0 if lost else 2 + j % length] = 1
        targets[t, j % bits] = 1
        mask[t] = 1
    targets[-1, -1], mask[-1] = 1, 1  # end marker
    predictions = targets.copy()
    if lose_at is not None:
        predictions[length + 2 + lose_at :] = 1 - predictions[length + 2 + lose_at :]
    return EpisodeTrace(None, targets, mask, predictions, write, read, memory)


def test_repeat_copy_figures_of_hand_made_episodes():
    script = load_script()
    figures = script.repeat_copy_figures(repeat_trace(), 3, 2)
    assert figures["bit_errors"] == 0 and figures["perfect"] == 1
    assert figures["on_slot"] == 1.0 and figures["first_wrong"] == 7  # the 6 outputs + end marker
    assert figures["end_repetition"] == 2  # raised after the 2 repetitions asked for
    figures = script.repeat_copy_figures(repeat_trace(lose_at=4), 3, 2)
    assert figures["perfect"] == 0 and figures["first_wrong"] == 4
    assert figures["on_slot"] == 4 / 6
    assert figures["bit_errors"] == 3 * 3  # 2 output steps and the end marker, 3 bits each
    assert figures["end_repetition"] == 4 / 3  # the flipped outputs raise the marker at step 4
    never = repeat_trace()
    never.outputs[:, -1] = 0.0  # an episode that never stops
    assert script.repeat_copy_figures(never, 3, 2)["end_repetition"] == float("inf")


def test_write_peak_and_revisits_tell_a_pointer_from_a_head_that_writes_over_earlier_rows():
    script = load_script()
    pointer = script.repeat_copy_figures(repeat_trace(), 3, 2)
    assert pointer["write_peak"] == 1.0 and pointer["write_revisits"] == 0.0
    stuck = repeat_trace()
    stuck.write_weights[1:4, 0] = 0.0
    stuck.write_weights[1:4, 0, 2] = 0.5  # every item half on slot 2, half spread
    stuck.write_weights[1, 0, 5], stuck.write_weights[2, 0, 6] = 0.5, 0.5
    stuck.write_weights[3, 0, 7] = 0.5
    figures = script.repeat_copy_figures(stuck, 3, 2)
    assert figures["write_peak"] == 0.5
    assert figures["write_revisits"] == pytest.approx(0.5)  # cosine of half-shared weightings


def test_a_write_head_that_walks_on_in_the_output_comes_round_onto_the_items():
    script = load_script()
    still = script.repeat_copy_figures(repeat_trace(), 3, 2)
    assert still["write_returns"] == float("inf") and still["overwritten"] == 0.0
    # 8 slots, items on 2..4: during the output the write head is on 5, 6, 7, 0, 1, then 2
    walked = script.repeat_copy_figures(repeat_trace(walk=True), 3, 2)
    assert walked["write_returns"] == 5
    assert walked["overwritten"] == pytest.approx(4 / 3)  # row 2 of 3 rows: 1 -> 5
    wide = script.repeat_copy_figures(repeat_trace(walk=True, slots=12), 3, 2)
    assert wide["write_returns"] == float("inf") and wide["overwritten"] == 0.0


PAPER_REPEAT_COPY_ON_A_DNC = dict(
    env_id="memtasks/RepeatCopy-v0",
    env_kwargs=dict(max_length=10, max_repeats=10, normalisation="standard"),
)


@pytest.mark.parametrize(
    "agent, preset, task",
    [("ntm", "ntm-repeat-copy", {}), ("dnc", "dnc-copy", PAPER_REPEAT_COPY_ON_A_DNC)],
)
def test_the_cli_traces_a_repeat_copy_circuit_and_checks_its_conditions(
    agent, preset, task, tmp_path, capsys
):
    sizes = {"circuit_kwargs": dict(memory_size=16, controller_size=8)}
    config = resolve_config(agent, preset, {**sizes, **task})
    save_checkpoint(tmp_path / "rc.pt", SupervisedTrainer(config).checkpoint(0.0))
    script = load_script()
    argv = ["--checkpoint", str(tmp_path / "rc.pt"), "--episodes", "2", "--conditions",
            "length=3,repeats=2", "length=5,repeats=3"]  # fmt: skip
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "| 3, 2 |" in out and "| 5, 3 |" in out and "longest output: 100 steps" in out
    with pytest.raises(SystemExit) as exit_:
        script.main([*argv[:4], "--conditions", "length=3"])
    assert exit_.value.code == 2
    assert "each needs length >= 1 and repeats >= 1" in capsys.readouterr().err
