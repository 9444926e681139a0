"""scripts/bench_circuits.py: the functions that produce its rows (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from memagents import agent as agent_module

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_circuits", ROOT / "scripts" / "bench_circuits.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = load_bench()
TINY_DNC = dict(memory_size=6, word_size=4, controller_size=8, num_reads=2)
TINY_NTM = dict(memory_size=8, word_size=4, controller_size=8)
CPU = torch.device("cpu")


def tiny_work(preset: str = "dnc-repeat-copy", peers: dict | None = None):
    """A work of the bench at tiny circuit sizes: a few ms per item."""
    kwargs = TINY_NTM if preset.startswith("ntm") else TINY_DNC
    return bench.Work(f"tiny {preset}", preset, peers or {}, kwargs)


@pytest.mark.parametrize("preset", ["dnc-repeat-copy", "ntm-copy"])  # mixed / pinned lengths
def test_every_item_works_on_the_same_batches(monkeypatch, preset):
    items = bench.make_items(tiny_work(preset), 3, CPU)
    assert set(items.run) == {
        "train_step", "train_step, env rollout", "train_step, torch ops",
        "train_step, step by step", "unroll + backward", "access step + backward",
        "LSTMCell(8) loop, train_step",
    }  # fmt: skip
    assert items.floor == "LSTMCell(8) loop, train_step" and items.headline == "train_step"
    assert items.agents["train_step, env rollout"].sampler is None
    assert not items.agents["train_step, torch ops"].circuit.access.use_kernel
    assert items.agents["train_step"].circuit.fused_unroll
    assert not items.agents["train_step, step by step"].circuit.fused_unroll

    seen: dict[str, list] = {}
    current = {"label": None}

    def recording(logits, targets, mask):
        if torch.is_grad_enabled():  # the training loss (the metrics are computed without grad)
            seen.setdefault(current["label"], []).append((targets.clone(), mask.clone()))
        return original(logits, targets, mask)

    original = agent_module.sequence_loss_bits
    monkeypatch.setattr(agent_module, "sequence_loss_bits", recording)
    monkeypatch.setattr(bench, "sequence_loss_bits", recording)
    access_steps = []
    for _ in range(3):  # rounds
        for label, iteration in items.run.items():
            current["label"] = label
            if isinstance(iteration, bench.Prepared):
                iteration.prepare()
                if label == "access step + backward":
                    access_steps.append(iteration.input.shape[1])
            iteration()
    trained = [label for label in items.run if label != "access step + backward"]
    assert set(seen) == set(trained)
    for round_index in range(3):
        targets, mask = seen["train_step"][round_index]
        assert targets.shape[0] == 3  # the same batch size for every model
        for label in trained:
            torch.testing.assert_close(
                seen[label][round_index][0], targets, rtol=0, atol=0, msg=label
            )
            torch.testing.assert_close(seen[label][round_index][1], mask, rtol=0, atol=0)
    assert items.steps == [seen["train_step"][k][0].shape[1] for k in range(3)] == access_steps
    assert len(items.logged) == 3 and all(ms > 0 for ms in items.logged)
    for agent in items.agents.values():
        assert agent.step == 3 and agent.sequences == 9
    first, second = seen["train_step"][0][0], seen["train_step"][1][0]
    assert first.shape != second.shape or not torch.equal(first, second)  # batch k, not one batch


def test_time_rounds_runs_one_of_each_per_round_in_rotating_order():
    calls = []
    run = {label: (lambda label=label: calls.append(label)) for label in "abc"}
    times = bench.time_rounds(run, rounds=4, warmup=2, device=CPU)
    assert {label: len(values) for label, values in times.items()} == {"a": 4, "b": 4, "c": 4}
    assert len(calls) == 3 * 6
    rounds = [calls[k : k + 3] for k in range(0, len(calls), 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert [r[0] for r in rounds] == ["a", "b", "c", "a", "b", "c"]  # nobody always goes first


def test_ratios_compare_items_of_the_same_round():
    # The machine slows down tenfold after round 2: per-round ratios see through it, a ratio of
    # medians would not (medians: circuit 11, headline 10 -> 1.1; per round: 3, 3, 1.1, 1.1, 4).
    times = {
        "train_step": [1.0, 1.0, 10.0, 10.0, 10.0],
        "circuit item": [3.0, 3.0, 11.0, 11.0, 40.0],
        "floor": [0.5, 0.5, 5.0, 5.0, 5.0],
    }
    work = tiny_work()
    peer = bench.Peer("someone/peer", 0.4)
    rows = {row.label: row for row in bench.summarise(times, work, 4, "train_step", "floor", peer)}
    assert rows["circuit item"].versus_headline == pytest.approx(3.0)
    assert rows["circuit item"].versus_floor == pytest.approx(6.0)
    assert rows["train_step"].versus_headline is None and rows["floor"].versus_floor is None
    assert rows["train_step"].versus_floor == pytest.approx(2.0)
    assert rows["train_step"].sequences_per_second == pytest.approx(4 / 10.0)
    assert rows["train_step"].ms_per_iteration == pytest.approx(1e4)
    assert rows["train_step"].versus_peer == pytest.approx((4 / 10.0) / 0.4)
    assert rows["circuit item"].peer is None and rows["circuit item"].versus_peer is None
    with pytest.raises(ValueError, match="same number of rounds"):
        bench.summarise({**times, "floor": [1.0]}, work, 4, "train_step", "floor")


def test_peers_are_their_measured_figures_with_where_and_when():
    assert bench.WORKS["ntm-copy"].peers[16] == bench.Peer("loudinthecloud/pytorch-ntm", 111.0)
    assert {b: p.rate for b, p in bench.WORKS["ntm-copy"].peers.items()} == {
        1: 20.0, 16: 111.0, 64: 116.0
    }  # fmt: skip
    assert bench.WORKS["dnc-repeat-copy"].peers[16].rate == 749.0
    assert bench.WORKS["dnc-copy"].peers[16].rate == 90.0
    assert set(bench.DEFAULT_WORKS) <= set(bench.WORKS)
    heads = bench.WORKS["ntm-priority-sort-1x1"].config(16).circuit_kwargs
    assert (heads["num_reads"], heads["num_writes"], heads["controller_size"]) == (1, 1, 512)
    assert "1 torch thread" in bench.PEER_MEASUREMENT and "issue 14" in bench.PEER_MEASUREMENT


def test_main_writes_the_markdown_table(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "WORKS", {"tiny": tiny_work(peers={2: bench.Peer("a/peer", 50.0)})})
    monkeypatch.setattr(bench, "DEFAULT_WORKS", ("tiny",))
    out = tmp_path / "throughput.md"
    argv = ["bench_circuits.py", "--rounds", "2", "--warmup", "1", "--batch-sizes", "2"]
    monkeypatch.setattr(sys, "argv", [*argv, "--no-rollout", "--markdown", str(out)])
    bench.main()
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| tiny")]
    labels = [line.split("|")[4].strip() for line in rows]
    assert labels == [
        "**train_step**", "train_step, torch ops", "train_step, step by step",
        "LSTMCell(8) loop, train_step", "unroll + backward", "access step + backward",
    ]  # fmt: skip
    assert "(50, a/peer)" in rows[0]
    assert bench.PEER_MEASUREMENT in text
    assert "train_step returned" in capsys.readouterr().out


def test_bench_refuses_an_env_without_a_sampler(monkeypatch):
    work = tiny_work()
    monkeypatch.setattr(bench, "make_envs", lambda *args: _wrapped(*args))
    with pytest.raises(ValueError, match="has no batch sampler"):
        bench.make_items(work, 2, CPU)


def _wrapped(env_id, num_envs, env_kwargs):
    import gymnasium as gym

    envs = agent_module.make_envs(env_id, num_envs, env_kwargs)
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


@pytest.mark.parametrize("min_batch, kernel_threads", [(64, 2), (2, 1)])
def test_the_kernel_contrast_item_flips_the_kernels_threading(
    monkeypatch, min_batch, kernel_threads
):
    """At a batch below THREADED_MIN_BATCH the contrast runs the kernels on all threads, from it
    up on 1; during its own iteration only."""
    from memagents.kernels import ntm, unroll

    monkeypatch.setattr(bench.kernel_build, "THREADED_MIN_BATCH", min_batch)
    items = bench.make_items(
        tiny_work("ntm-copy"), 3, CPU, torch_ops=False, rollout=False, threads=2,
        kernel_contrast=True,
    )  # fmt: skip
    label = f"train_step, 2 torch threads, kernels on {kernel_threads} thread"
    label += "s" if kernel_threads > 1 else ""
    assert label in items.run and "train_step, 2 torch threads" in items.run
    given = []
    original = ntm.threads_for
    for module in (ntm, unroll):  # the step's kernel, and the fused sequence's
        monkeypatch.setattr(module, "threads_for", lambda B: given.append(original(B)) or given[-1])
    threads = torch.get_num_threads()
    items.run[label]()
    assert given and set(given) == {kernel_threads}  # every kernel call of the iteration
    given.clear()
    items.run["train_step, 2 torch threads"]()
    assert set(given) == {1 if min_batch > 3 else 2}  # the default
    assert torch.get_num_threads() == threads
    assert bench.kernel_build.THREADED_MIN_BATCH == min_batch


def test_thread_scaling_prints_1_and_2_threads_and_the_contrast(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "WORKS", {"tiny": tiny_work("dnc-repeat-copy")})
    out = tmp_path / "scaling.md"
    argv = ["bench_circuits.py", "--thread-scaling", "--works", "tiny", "--batch-sizes", "2"]
    monkeypatch.setattr(
        sys, "argv", [*argv, "--rounds", "2", "--warmup", "1", "--markdown", str(out)]
    )
    bench.main()
    text = out.read_text()
    command = "python scripts/bench_circuits.py --rounds 2 --thread-scaling --batch-sizes 2"
    assert text.startswith(f"`{command} --works tiny`")
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| tiny")]
    assert [row[4].strip() for row in rows] == [
        "train_step, 1 torch thread", "train_step, 2 torch threads",
        "(train_step, 2 torch threads, kernels on 2 threads)",
    ]  # fmt: skip
    assert rows[0][7].strip() == "" and rows[1][7].strip().startswith("**")
    assert all(float(row[7].strip(" *x")) > 0 for row in rows[1:])
    assert f"THREADED_MIN_BATCH = {bench.kernel_build.THREADED_MIN_BATCH}" in text
    assert "speed-up over 1 thread" in capsys.readouterr().out
