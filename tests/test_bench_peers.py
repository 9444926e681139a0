"""scripts/bench_peers.py: the functions that produce its rows and ratios, on fake items (no peer
sources needed; no speed of ours is asserted)."""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_bench_peers():
    spec = importlib.util.spec_from_file_location(
        "bench_peers", ROOT / "scripts" / "bench_peers.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


peers = load_bench_peers()
OURS_1, OURS_2 = peers.Item(peers.OURS, 1, peer=False), peers.Item(peers.OURS, 2, peer=False)
PEER_1, PEER_2 = peers.Item("a/peer", 1, peer=True), peers.Item("a/peer", 2, peer=True)
OTHER_1 = peers.Item("b/other", 1, peer=True)


@pytest.fixture
def restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_rows_are_medians_and_mark_each_implementations_fastest_thread_count():
    times = {
        OURS_1.label: [0.010, 0.012, 0.011],
        OURS_2.label: [0.008, 0.006, 0.007],  # ours: 2 threads best
        PEER_1.label: [0.040, 0.050, 0.045],  # the peer: 1 thread best
        PEER_2.label: [0.060, 0.055, 0.070],
    }
    rows = {row.item: row for row in peers.item_rows(times, [OURS_1, OURS_2, PEER_1, PEER_2], 4)}
    assert rows[OURS_1].ms_per_iteration == pytest.approx(11.0)
    assert rows[OURS_2].sequences_per_second == pytest.approx(4 / 0.007)
    assert [item for item, row in rows.items() if row.best] == [OURS_2, PEER_1]


def test_rows_need_the_same_number_of_rounds_for_every_item():
    with pytest.raises(ValueError, match="same number of rounds"):
        peers.item_rows({OURS_1.label: [1.0, 1.0], PEER_1.label: [1.0]}, [OURS_1, PEER_1], 1)


def test_ratio_is_the_median_of_same_round_ratios_of_the_best_items():
    # Round by round the peer takes 3x, 1x, 3x ours: the median ratio is 3, where the ratio of
    # the medians (3 / 2) would be 1.5.
    times = {
        OURS_1.label: [1.0, 2.0, 3.0],
        OURS_2.label: [9.0, 9.0, 9.0],  # not ours' best: not compared
        PEER_1.label: [3.0, 2.0, 9.0],
        PEER_2.label: [8.0, 8.0, 8.0],
    }
    items = [OURS_1, OURS_2, PEER_1, PEER_2]
    (comparison,) = peers.compare(times, peers.item_rows(times, items, 1))
    assert comparison.ours.item == OURS_1 and comparison.peer.item == PEER_1
    assert comparison.speedup == pytest.approx(3.0)
    assert comparison.fastest


def test_the_fastest_peer_is_the_one_with_the_lowest_median_at_its_best():
    times = {
        OURS_1.label: [1.0, 1.0, 1.0],
        PEER_1.label: [4.0, 5.0, 6.0],
        PEER_2.label: [7.0, 7.0, 7.0],
        OTHER_1.label: [2.0, 9.0, 3.0],  # median 3: faster than a/peer's 5
    }
    items = [OURS_1, PEER_1, PEER_2, OTHER_1]
    comparisons = {c.peer.item: c for c in peers.compare(times, peers.item_rows(times, items, 1))}
    assert set(comparisons) == {PEER_1, OTHER_1}  # each peer at its best thread count only
    assert comparisons[OTHER_1].fastest and not comparisons[PEER_1].fastest
    assert comparisons[OTHER_1].speedup == pytest.approx(3.0)
    assert comparisons[PEER_1].speedup == pytest.approx(5.0)


def test_no_comparison_without_a_peer():
    times = {OURS_1.label: [1.0], OURS_2.label: [2.0]}
    assert peers.compare(times, peers.item_rows(times, [OURS_1, OURS_2], 1)) == []


def test_counted_items_get_their_thread_count_and_the_round_index(restore_threads):
    calls = []

    def recorder(name):
        return lambda k: calls.append((name, k, torch.get_num_threads()))

    run = {
        OURS_1.label: peers.counted(recorder("ours"), 1),
        PEER_2.label: peers.counted(recorder("peer"), 2),
    }
    times = peers.bench.time_rounds(run, rounds=3, warmup=1, device=peers.CPU)
    assert [len(values) for values in times.values()] == [3, 3]
    for name, threads in (("ours", 1), ("peer", 2)):
        mine = [(k, count) for who, k, count in calls if who == name]
        assert mine == [(k, threads) for k in range(4)]  # the k-th call: batch k, its threads


def test_interleaved_fake_items_pick_the_faster_thread_count_and_compare_it(restore_threads):
    """End to end through time_rounds with items that sleep: ours is fast only on 2 threads."""

    def ours(k):
        time.sleep(0.03 if torch.get_num_threads() == 1 else 0.0)

    def peer(k):
        time.sleep(0.03)

    items = [OURS_1, OURS_2, PEER_1]
    steps = {OURS_1: ours, OURS_2: ours, PEER_1: peer}
    run = {item.label: peers.counted(steps[item], item.threads) for item in items}
    times = peers.bench.time_rounds(run, rounds=3, warmup=0, device=peers.CPU)
    rows = peers.item_rows(times, items, 2)
    assert [row.item for row in rows if row.best] == [OURS_2, PEER_1]
    (comparison,) = peers.compare(times, rows)
    assert comparison.ours.item == OURS_2
    assert comparison.speedup > 1.0


def test_copy_peers_get_our_batches_length():
    """The copy peers draw sequences of our batch k's length: T = 2 L + 1 as ours."""
    config = peers.bench.WORKS["ntm-copy"].config(2)
    schedule = peers.Schedule(config, peers.our_agent(config))
    for k in range(4):
        assert schedule.steps(k) == 2 * schedule.length(k) + 1
    assert len({schedule.length(k) for k in range(20)}) > 1  # lengths vary from batch to batch


def test_a_peer_that_cannot_run_has_no_figure_and_a_reason(monkeypatch, restore_threads):
    seen = []

    def working(loaded, config, schedule):
        return {"good/peer": lambda k: seen.append((k, schedule.steps(k)))}

    def broken(loaded, config, schedule):
        def step(k):
            raise RuntimeError("no such op")

        return {"bad/peer": step}

    monkeypatch.setitem(peers.WORK_PEERS, "dnc-repeat-copy", ("good/peer", "bad/peer"))
    monkeypatch.setitem(peers.PEER_STEPS, "good/peer", working)
    monkeypatch.setitem(peers.PEER_STEPS, "bad/peer", broken)
    loaded = {"good/peer": types.SimpleNamespace(), "bad/peer": types.SimpleNamespace()}
    measurement = peers.measure("dnc-repeat-copy", 2, loaded, [1], rounds=2, warmup=1)
    assert measurement.unavailable == {"bad/peer": "RuntimeError: no such op"}
    assert {row.item.implementation for row in measurement.rows} == {peers.OURS, "good/peer"}
    assert [k for k, _ in seen] == [0, 0, 1, 2]  # the probe, then one call per round
    assert [comparison.peer.item.implementation for comparison in measurement.comparisons] == [
        "good/peer"
    ]
    assert "bad/peer: cannot run here (RuntimeError: no such op)" in peers.comparison_table(
        [measurement]
    )


def test_a_peer_that_did_not_load_is_reported(restore_threads):
    loaded = {peers.DNC_PEER: "cannot be imported: ImportError: nope"}
    measurement = peers.measure("dnc-repeat-copy", 1, loaded, [1], rounds=1, warmup=0)
    assert measurement.unavailable == {peers.DNC_PEER: "cannot be imported: ImportError: nope"}
    assert measurement.comparisons == []


def test_time_first_outputs_are_detected():
    class Fake(torch.nn.Module):
        def __init__(self, time_first):
            super().__init__()
            self.time_first = time_first

        def forward(self, inputs, state, reset_experience=False):
            return (inputs.transpose(0, 1) if self.time_first else inputs), state

    assert peers._outputs_time_first(Fake(True), 5)
    assert not peers._outputs_time_first(Fake(False), 5)


def test_attrs_shim_maps_convert_and_is_undone():
    attr = pytest.importorskip("attr")
    original = attr.attrib
    with peers._attrs_convert_shim():

        @attr.attrs
        class Params:
            size = attr.attrib(default=1, convert=int)

        assert Params(size="7").size == 7
    assert attr.attrib is original


def test_import_path_and_stubs_leave_sys_path_as_it_was(tmp_path):
    before = list(sys.path)
    with peers._import_path(tmp_path):
        assert sys.path[0] == str(tmp_path)
        sys.path.insert(0, "../..")  # what pytorch-dnc's copy_task.py does
    assert sys.path == before
    name = "bench_peers_no_such_module"
    try:
        peers._stub_if_missing(name)
        assert isinstance(sys.modules[name], types.ModuleType)
    finally:
        sys.modules.pop(name, None)


def test_missing_peers_dir_is_a_one_line_error_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        peers.main(["--batch-sizes", "16"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--peers-dir is required" in error


def test_a_peers_dir_that_is_not_there_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        peers.main(["--peers-dir", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nowhere" in error


def test_a_missing_peer_folder_is_named_exit_2(tmp_path, capsys):
    (tmp_path / "pytorch-ntm").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        peers.main(["--peers-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert peers.DNC_PEER in error and str(tmp_path / "pytorch-dnc") in error
    # A run of the NTM work alone needs only pytorch-ntm: it gets past the check.
    args = peers.parse_args(["--peers-dir", str(tmp_path), "--works", "ntm-copy"])
    assert args.peers_dir == tmp_path
