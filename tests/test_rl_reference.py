"""scripts/rl_reference.py: the docs/RL.md reference table is rendered from recorded runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rl_reference.py"


@pytest.fixture(scope="module")
def rl_reference():
    spec = importlib.util.spec_from_file_location("rl_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(agent, seed, solved, final, episodes=1000):
    return dict(
        agent=agent,
        seed=seed,
        env_id="memtasks/Copy-Easy-v0",
        budget_episodes=2000,
        episodes=episodes,
        solved=solved,
        solved_episodes=episodes if solved else None,
        final_return=final,
        cpu_s=10.0 + seed,
        wall_s=20.0,
        command=f"python scripts/train_rl.py --agent {agent} --seed {seed}",
    )


def test_render_writes_the_table_between_the_markers_only(rl_reference, tmp_path):
    results = tmp_path / "results.json"
    records = [record("lstm", 2, True, 0.96, 1500), record("lstm", 1, False, 0.8123)]
    records.append(record("ppo-stack", 1, False, 0.5))
    results.write_text(json.dumps(records))
    doc = tmp_path / "RL.md"
    doc.write_text(f"before\n{rl_reference.BEGIN}\nold table\n{rl_reference.END}\nafter\n")
    assert rl_reference.main(["render", "--results", str(results), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith(f"{rl_reference.END}\nafter\n")
    assert "old table" not in text
    lstm_row = next(line for line in text.splitlines() if "LSTM 1 x 64" in line)
    # Seeds in order (1, 2), figures from the records, mean CPU seconds (11 + 12) / 2.
    assert "| 1/2 | not solved, 1,500 | 0.812, 0.960 | 12 |" in lstm_row
    assert "python scripts/train_rl.py --agent lstm --seed S" in text


def test_render_refuses_a_doc_without_markers_or_empty_results(rl_reference, tmp_path):
    results, doc = tmp_path / "results.json", tmp_path / "RL.md"
    doc.write_text("no markers\n")
    assert rl_reference.main(["render", "--results", str(results), "--doc", str(doc)]) == 2
    results.write_text(json.dumps([record("lstm", 1, True, 0.97)]))
    assert rl_reference.main(["render", "--results", str(results), "--doc", str(doc)]) == 2
    assert doc.read_text() == "no markers\n"


def test_docs_table_matches_the_recorded_results(rl_reference):
    """docs/RL.md shows exactly what docs/results/rl_reference.json renders to."""
    if not rl_reference.RESULTS.exists():
        pytest.skip("no recorded reference runs")
    table = rl_reference.render_table(json.loads(rl_reference.RESULTS.read_text()))
    assert f"{rl_reference.BEGIN}\n{table}\n{rl_reference.END}" in rl_reference.DOC.read_text()
