"""What scripts/test.py shows of one episode: the step-by-step trace and its heatmaps, on a
hand-made RepeatCopy-like episode (no circuit needed); the DynamicNGrams cost against the
optimum; the figures over several checkpoints of a model (scripts/evaluate.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from memagents.agent import BatchMetrics, batch_sampler, batch_seed, evaluate, make_envs
from memagents.circuits import build_circuit
from memagents.config import PRESETS, TrainConfig
from memagents.evaluation import (
    FOCUS_MIN_WEIGHT,
    EpisodeTrace,
    condition_name,
    conditions_table,
    describe_episode,
    dynamic_ngrams_task,
    focus,
    input_cells,
    load_circuit,
    markdown_table,
    ngrams_cost,
    plot_episode,
    trace_episode,
)
from memagents.plotting import Plotter
from memagents.sweeps import Spread, spread
from memtasks.sampling import dynamic_ngrams_optimal_cost, dynamic_ngrams_optimal_predictions

REPO = Path(__file__).resolve().parents[1]
T, N = 6, 16  # steps, memory slots


def episode() -> EpisodeTrace:
    """bits=2, length=1, repeats=2 (count 0.2 on channel 3 at step 2); scored from step 3."""
    inputs = np.zeros((T, 4))
    inputs[0, 2] = 1.0  # start flag
    inputs[1, :2] = [1.0, 0.0]  # the word
    inputs[2, 3] = 0.2  # the repeat count, normalised
    targets = np.zeros((T, 3))
    targets[3:5, 0] = 1.0
    targets[5, 2] = 1.0  # end marker
    mask = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    outputs = np.full((T, 3), 0.9)  # confident noise before step 3
    outputs[3:] = targets[3:] * 0.8 + 0.1
    write = np.full((T, 1, N), 1.0 / N)  # spread evenly: attends nowhere
    write[1, 0] = 0.0
    write[1, 0, 1:3] = [0.97, 0.03]
    read = np.zeros((T, 1, N))
    read[:, 0, 1] = [0.0, 0.0, 0.0, 1.0, 1.0, FOCUS_MIN_WEIGHT]
    memory = np.zeros((T, N, 3))
    return EpisodeTrace(inputs, targets, mask, outputs, write, read, memory)


def test_the_trace_masks_unscored_output_and_heads_that_attend_nowhere():
    lines = describe_episode(episode()).splitlines()
    header, steps, note = lines[0], lines[1 : T + 1], lines[T + 1 :]
    assert "write focus" in header
    cells = [[cell.strip() for cell in line.split("|")] for line in steps]
    # step | input | target | output | write focus | read focus
    assert [row[1] for row in cells] == ["..#.", "#...", "...+", "....", "....", "...."]
    assert [row[2] for row in cells] == ["", "", "", "#..", "#..", "..#"]
    assert [row[3] for row in cells] == ["", "", "", "#..", "#..", "..#"]  # 0.9s before: hidden
    assert [row[4] for row in cells] == ["-", "1:0.97", "-", "-", "-", "-"]
    assert [row[5] for row in cells] == ["-", "-", "-", "1:1.00", "1:1.00", "1:0.10"]
    assert note == ["input values other than 0 and 1 ('+', '-'): step 2 channel 3: 0.2"]


def test_text_cells():
    assert input_cells(np.array([0.0, 1.0, 0.5, -1.5])) == ".#+-"
    spread = np.full((2, 128), 1 / 128)
    spread[1, 5] = 0.5
    assert focus(spread) == "  -        5:0.50"


def test_heatmaps_mask_unscored_steps_and_fix_probabilities_to_0_1(tmp_path):
    plotter = Plotter("run_test", tmp_path, enabled=False)
    plot_episode(plotter, episode())
    names = [path.name for path in plotter.save_pngs()]
    assert names == [
        "input.png",
        "target.png",
        "output.png",
        "write_weights_0.png",
        "read_weights_0.png",
        "memory.png",
    ]
    for win in ("target", "output"):
        heatmap = plotter._heatmaps[win]
        assert (heatmap.vmin, heatmap.vmax) == (0.0, 1.0)
        assert np.isnan(heatmap.matrix[:, :3]).all()  # (O, T): steps 0..2 not scored
        assert not np.isnan(heatmap.matrix[:, 3:]).any()
    np.testing.assert_allclose(plotter._heatmaps["output"].matrix[0, 3:], [0.9, 0.9, 0.1])
    for win in ("write_weights_0", "read_weights_0"):
        assert (plotter._heatmaps[win].vmin, plotter._heatmaps[win].vmax) == (0.0, 1.0)
    assert plotter._heatmaps["input"].vmax is None  # the repeat count keeps its own scale
    axes, _colour_bar = plotter.heatmap_figure("memory").axes
    assert np.array_equal(axes.get_xticks(), np.round(axes.get_xticks()))


def test_a_circuit_without_memory_is_described_with_dashes():
    trace = episode()._replace(write_weights=None, read_weights=None, memory=None)
    (step,) = [line for line in describe_episode(trace).splitlines() if line.startswith("   3")]
    assert step.split(" | ")[4:] == ["-", "-"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_weights_figure_ticks_the_real_slots_of_one_shared_crop():
    evaluate = load_script("evaluate")
    trace = episode()
    write = np.zeros((T, 1, 40))
    write[np.arange(T), 0, 20 + np.arange(T)] = 1.0  # slots 20..25
    read = np.zeros((T, 1, 40))
    read[np.arange(T), 0, 10 + np.arange(T)] = 1.0  # slots 10..15
    trace = trace._replace(write_weights=write, read_weights=read)
    assert evaluate.slots_visited([write[:, 0].T, read[:, 0].T]) == (8, 27)  # 2 slots of margin

    figure = evaluate.weights_figure(trace, "NTM")
    panels = {axes.get_title(): axes for axes in figure.axes if axes.get_title()}
    assert set(panels) == {"input", "output (grey: not scored)", "write weights", "read weights"}
    for title in ("write weights", "read weights"):
        axes = panels[title]
        assert axes.get_ylim() == (7.5, 27.5)  # real slot numbers, the same in both
        (image,) = axes.get_images()
        assert image.get_cmap().name.startswith("viridis") and image.get_clim() == (0.0, 1.0)
        ticks = [tick for tick in axes.get_yticks() if 7.5 <= tick <= 27.5]
        assert ticks and all(tick == round(tick) for tick in ticks)
        row = round(axes.get_ylim()[0] + 0.5)  # the image's first row is that slot
        assert image.get_array().shape[0] == 27 - row + 1
    (output,) = panels["output (grey: not scored)"].get_images()
    assert np.ma.getmaskarray(output.get_array())[:, :3].all()  # steps 0..2: not scored


def test_evaluate_help_shows_its_example_with_line_continuations(capsys):
    evaluate = load_script("evaluate")
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--help"])
    assert "python scripts/evaluate.py \\\n        --model NTM=" in capsys.readouterr().out


def test_evaluate_says_every_file_it_wrote(tmp_path, capsys):
    evaluate = load_script("evaluate")
    run = tmp_path / "run"
    run.mkdir()
    rows = [dict(kind="train", step=s, sequences=16 * s, loss_bits=8.0 / s) for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    argv = ["--model", f"DNC={REPO / 'checkpoints' / 'dnc-repeat-copy.pt'}", "--lengths", "2"]
    argv += ["--sequences", "2", "--weights-length", "2", "--curve", f"run={run}"]
    assert evaluate.main([*argv, "--out", str(out)]) == 0
    (wrote,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote")]
    names = ["generalisation.md", "generalisation.png", "training_curves.png", "weights_dnc.png"]
    assert wrote == "wrote " + ", ".join(str(out / name) for name in names)
    assert all((out / name).stat().st_size > 0 for name in names)


@pytest.fixture
def root_logger_kept():
    """scripts' main() sets up the root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_test_script_on_a_checkpoint_file_says_where_its_pictures_go(
    tmp_path, capsys, root_logger_kept
):
    test_script = load_script("test")
    checkpoint = REPO / "checkpoints" / "dnc-repeat-copy.pt"
    argv = ["--checkpoint", str(checkpoint), "--runs-dir", str(tmp_path), "--no-visdom"]
    argv += ["--lengths", "2", "--repeats", "2", "--sequences", "4"]
    assert test_script.main(argv) == 0
    out = capsys.readouterr().out
    pictures = tmp_path / "checkpoint-tests" / "dnc-repeat-copy"
    assert f"pictures of one episode go to {pictures}/" in out.splitlines()[1]
    assert f"9 pictures in {pictures}/" in out  # input, target, output, 1 write, 4 read, memory
    assert len(list(pictures.glob("*.png"))) == 9
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-tests"]
    assert "one episode of length 2 and 2 repeats, step by step:" in out
    assert "input values other than 0 and 1 ('+', '-'): step 3 channel 5: 0.2" in out


# -- DynamicNGrams: the cost against the optimal estimator -------------------------------------


class OptimalPredictor(torch.nn.Module):
    """Predicts each bit of a DynamicNGrams sequence as the optimal estimator does, from the bits
    seen so far (the inputs are the previous bits): its gap to the optimum is 0."""

    def __init__(self, order: int):
        super().__init__()
        self.order = order
        self.anchor = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))  # device, dtype

    def unroll(self, inputs: torch.Tensor):
        seen = inputs[:, 1:, 0].numpy()  # (B, T - 1): x_0 .. x_(T-2)
        padded = np.concatenate([seen, np.zeros((len(seen), 1))], axis=1)  # x_(T-1) unused
        probabilities = torch.from_numpy(dynamic_ngrams_optimal_predictions(padded, self.order))
        return torch.logit(probabilities)[..., None], None


def ngrams_config(**env_kwargs) -> TrainConfig:
    return dataclasses.replace(
        PRESETS["lstm-ngrams"],
        env_kwargs={"order": 3, "length": 12, **env_kwargs},
        circuit_kwargs={"hidden_size": 4, "num_layers": 1},
    )


def test_a_circuit_that_predicts_optimally_has_no_gap_to_the_optimum():
    config = ngrams_config()
    cost = ngrams_cost(OptimalPredictor(order=3), config, sequences=30, batch_size=10, seed=5)
    assert cost.num_sequences == 30
    assert cost.optimal_loss_bits > 1.0  # 12 bits, hard to predict: several bits of cost
    assert cost.loss_bits == pytest.approx(cost.optimal_loss_bits, rel=1e-9)
    assert cost.gap_percent == pytest.approx(0.0, abs=1e-7)


def test_the_optimal_cost_is_the_samplers_on_the_same_sequences_and_the_model_cost_evaluates():
    config = ngrams_config()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        circuit = build_circuit("lstm", 1, 1, hidden_size=4, num_layers=1)
        cost = ngrams_cost(circuit, config, sequences=20, batch_size=10, seed=7)
        envs = make_envs(config.env_id, 10, config.env_kwargs)
        sampler = batch_sampler(envs)
        by_hand = np.concatenate(
            [dynamic_ngrams_optimal_cost(sampler(batch_seed(7, i)), order=3) for i in (0, 1)]
        )
        assert cost.optimal_loss_bits == pytest.approx(by_hand.mean(), rel=1e-12)
        model = evaluate(circuit, envs, 20, seed=7)
        envs.close()
    finally:
        torch.set_num_threads(threads)
    assert cost.loss_bits == pytest.approx(model.loss_bits, rel=1e-6)
    expected_gap = 100 * (cost.loss_bits - cost.optimal_loss_bits) / cost.optimal_loss_bits
    assert cost.gap_percent == pytest.approx(expected_gap)
    assert cost.gap_percent > 0  # an untrained LSTM is worse than the optimum


def test_the_ngrams_cost_needs_a_dynamic_ngrams_env():
    config = PRESETS["lstm-copy"]
    assert dynamic_ngrams_task(config.env_id, config.env_kwargs) is None
    assert dynamic_ngrams_task(ngrams_config().env_id, ngrams_config().env_kwargs).order == 3
    with pytest.raises(ValueError, match="needs a DynamicNGrams env, got memtasks/Copy"):
        ngrams_cost(OptimalPredictor(order=3), config, sequences=2)


# -- several checkpoints per model: median (min-max) --------------------------------------------


def figures(*bit_errors: float) -> dict[str, BatchMetrics]:
    """One checkpoint's figures at the conditions items=2, items=6, items=20."""
    names = ["items2", "items6", "items20"]
    return {
        name: BatchMetrics(1.0, errors, 1.0 if errors == 0 else 0.5, 10)
        for name, errors in zip(names, bit_errors, strict=True)
    }


ITEMS = [{"items": 2}, {"items": 6}, {"items": 20}]


def test_the_spread_over_checkpoints_is_median_min_max():
    assert spread([3.0, 0.0, 400.0]) == Spread(3.0, 0.0, 400.0, 3)
    assert spread([1.0, 2.0, 10.0, 0.5]) == Spread(1.5, 0.5, 10.0, 4)  # even: mean of the middle
    assert spread([7.0]) == Spread(7.0, 7.0, 7.0, 1)
    with pytest.raises(ValueError, match="spread of no values"):
        spread([])


def test_the_table_gives_median_and_range_over_checkpoints_and_their_number():
    results = {
        "NTM": [figures(0.0, 1.0, 300.0), figures(0.2, 5.0, 100.0), figures(0.1, 3.0, 500.0)],
        "LSTM": [figures(2.0, 40.0, 250.0)],
    }
    lines = conditions_table(results, ITEMS).splitlines()
    assert lines[0] == "| model | checkpoints | items=2 | items=6 | items=20 |"
    assert lines[1] == "| --- | --- | --- | --- | --- |"
    assert lines[2] == (
        "| NTM | 3 | 0.100 (0.000-0.200) | 3.000 (1.000-5.000) | 300.000 (100.000-500.000) |"
    )
    assert lines[3] == "| LSTM | 1 | 2.000 | 40.000 | 250.000 |"


def test_with_one_checkpoint_per_model_the_table_is_as_before():
    by_length = {n: BatchMetrics(1.0, e, p, 10) for n, e, p in ((10, 0.0, 1.0), (80, 2.5, 0.4))}
    lengths = [{"length": 10}, {"length": 80}]
    by_name = {condition_name(c): by_length[c["length"]] for c in lengths}
    assert conditions_table({"NTM": [by_name]}, lengths) == markdown_table(
        {"NTM": by_length}, [10, 80]
    )


def test_the_plot_draws_each_models_median_and_its_range_as_a_band():
    evaluate = load_script("evaluate")
    results = {
        "NTM": [figures(0.0, 1.0, 300.0), figures(0.2, 5.0, 100.0), figures(0.1, 3.0, 500.0)],
        "LSTM": [figures(2.0, 40.0, 250.0)],
    }
    figure = evaluate.generalisation_figure(results, ITEMS, train_max=6)
    (axes,) = figure.axes
    lines = {line.get_label(): line for line in axes.get_lines()}
    ntm, lstm = lines["NTM (median of 3, range shaded)"], lines["LSTM"]
    assert list(ntm.get_xdata()) == [2, 6, 20] and list(ntm.get_ydata()) == [0.1, 3.0, 300.0]
    assert list(lstm.get_ydata()) == [2.0, 40.0, 250.0]
    assert "largest trained items (6)" in lines
    (band,) = axes.collections  # only the model with several checkpoints has one
    corners = band.get_paths()[0].vertices
    assert {(x, y) for x, y in corners} >= {(2, 0.0), (2, 0.2), (20, 100.0), (20, 500.0)}
    assert axes.get_yscale() == "symlog" and axes.get_xlabel() == "items"

    mixed = [{"length": 2}, {"length": 2, "repeats": 3}]  # two options: one place each
    one = {"L2": BatchMetrics(1.0, 0.0, 1.0, 1), "L2_R3": BatchMetrics(1.0, 4.0, 0.0, 1)}
    figure = evaluate.generalisation_figure({"DNC": [one]}, mixed, train_max=None)
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == ["L=2", "L=2 R=3"]
    assert not axes.collections


def test_the_weights_of_a_two_plus_two_head_ntm_on_priority_sort(tmp_path):
    """A tiny 2 + 2-head NTM trained a few steps: the figure shows each slot's largest weight
    over the heads of a kind, or (--weights-heads each) every head in the row of its kind."""
    code = load_script("train").main([
        "--preset", "ntm-priority-sort", "--env-kwarg", "bits=3", "--env-kwarg", "num_inputs=4",
        "--env-kwarg", "num_outputs=3", "--circuit-kwarg", "memory_size=12", "--circuit-kwarg",
        "word_size=4", "--circuit-kwarg", "controller_size=8", "--circuit-kwarg", "num_reads=2",
        "--circuit-kwarg", "num_writes=2", "--batch-size", "2",
        "--eval-sequences", "4", "--solved-sequences", "4", "--max-steps", "5", "--eval-every",
        "5", "--run-name", "heads", "--runs-dir", str(tmp_path), "--no-visdom", "--no-progress",
        "--num-threads", "1",
    ])  # fmt: skip
    assert code == 0
    checkpoint = tmp_path / "heads" / "checkpoints" / "last.pt"
    evaluate = load_script("evaluate")
    model = load_circuit(checkpoint)
    sizes = model.config.circuit_kwargs
    assert (sizes["num_reads"], sizes["num_writes"]) == (2, 2)
    trace = trace_episode(model.circuit, model.config, seed=3)
    assert trace.write_weights.shape[1:] == trace.read_weights.shape[1:] == (2, 12)

    figure = evaluate.weights_figure(trace, "NTM")
    panels = {axes.get_title(): axes for axes in figure.axes if axes.get_title()}
    for kind, weights in (("write", trace.write_weights), ("read", trace.read_weights)):
        (image,) = panels[f"{kind} weights (max over 2 heads)"].get_images()
        low = round(panels[f"{kind} weights (max over 2 heads)"].get_ylim()[0] + 0.5)
        rows = image.get_array().shape[0]
        np.testing.assert_array_equal(image.get_array(), weights.max(axis=1).T[low : low + rows])

    figure = evaluate.weights_figure(trace, "NTM", heads="each")
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert titles == ["input", "output (grey: not scored)"] + [
        f"{kind} head {head}" for kind in ("write", "read") for head in range(2)
    ]
    panels = {axes.get_title(): axes for axes in figure.axes if axes.get_title()}
    (image,) = panels["read head 1"].get_images()
    low = round(panels["read head 1"].get_ylim()[0] + 0.5)
    rows = image.get_array().shape[0]
    np.testing.assert_array_equal(image.get_array(), trace.read_weights[:, 1].T[low : low + rows])
    assert len({panels[f"write head {h}"].get_ylim() for h in range(2)}) == 1  # the same slots

    out = tmp_path / "out"
    argv = ["--model", f"NTM={checkpoint}", "--conditions", "num_inputs=4,num_outputs=3",
            "--sequences", "4", "--weights-heads", "each", "--out", str(out)]  # fmt: skip
    assert evaluate.main(argv) == 0
    assert (out / "weights_ntm.png").stat().st_size > 1000
    assert "| NTM | " in (out / "generalisation.md").read_text()


def test_a_circuit_loads_with_another_number_of_slots(tmp_path, capsys):
    """load_circuit(memory_size=): with more slots the NTM's heads start where they were trained
    to (the added slots ~e^-30 of the weight), with fewer as training on fewer starts; a DNC
    rebuilds as it is; an LSTM or a slot count the circuit cannot take is refused;
    scripts/evaluate.py --memory-size says the slots in its table."""
    from memagents.checkpoint import CheckpointError, save_checkpoint
    from memagents.config import resolve_config
    from memagents.training import SupervisedTrainer

    sizes = {"circuit_kwargs": dict(memory_size=16, word_size=4, controller_size=8)}
    for name in ("ntm", "lstm"):
        kwargs = sizes if name == "ntm" else {"circuit_kwargs": dict(hidden_size=8)}
        config = resolve_config(name, None, kwargs)
        save_checkpoint(tmp_path / f"{name}.pt", SupervisedTrainer(config).checkpoint(0.0))
    trained = load_circuit(tmp_path / "ntm.pt")
    wide = load_circuit(tmp_path / "ntm.pt", memory_size=40)
    assert wide.config.circuit_kwargs["memory_size"] == 40
    before = trained.circuit.access.initial_state(1)
    after = wide.circuit.access.initial_state(1)
    assert after.memory.shape == (1, 40, 4)
    for old, new in ((before.read_weights, after.read_weights),
                     (before.write_weights, after.write_weights)):  # fmt: skip
        assert new.shape[-1] == 40
        assert new[..., 16:].sum() < 1e-10
        assert torch.allclose(new[..., :16], old, atol=1e-10)
    narrow = load_circuit(tmp_path / "ntm.pt", memory_size=8).circuit.access.initial_state(1)
    expected = trained.circuit.access.initial_state(1, 8)  # what training on 8 slots starts from
    torch.testing.assert_close(narrow.read_weights, expected.read_weights)
    torch.testing.assert_close(narrow.write_weights, expected.write_weights)
    with pytest.raises(CheckpointError, match=r"memory_size must be an integer in 1\.\.\d+, got 0"):
        load_circuit(tmp_path / "ntm.pt", memory_size=0)
    with pytest.raises(CheckpointError, match="shift_range 1 does not fit 2 slots"):
        load_circuit(tmp_path / "ntm.pt", memory_size=2)
    with pytest.raises(CheckpointError, match="has no memory"):
        load_circuit(tmp_path / "lstm.pt", memory_size=40)
    shipped = REPO / "checkpoints" / "dnc-repeat-copy.pt"
    assert load_circuit(shipped, memory_size=64).circuit.access.memory_size == 64
    evaluate = load_script("evaluate")
    out = tmp_path / "out"
    argv = ["--model", f"DNC={shipped}", "--lengths", "2", "--sequences", "2",
            "--weights-length", "2", "--out", str(out)]  # fmt: skip
    assert evaluate.main([*argv, "--memory-size", "64"]) == 0
    assert "every model with 64 memory slots" in (out / "generalisation.md").read_text()
    capsys.readouterr()
    assert evaluate.main([*argv, "--memory-size", "0"]) == 2
    assert re.search(r"memory_size must be an integer in 1\.\.\d+, got 0", capsys.readouterr().err)
