"""memagents.training: the loop (cadences, solved, signals at step boundaries, failures, a full
disk), and trainers that resume exactly."""

from __future__ import annotations

import dataclasses
import errno
import os
import signal

import pytest
import torch

from memagents import agent as agent_module
from memagents import checkpoint as checkpoint_module
from memagents import training as training_module
from memagents.agent import BatchMetrics, NonFiniteGradientError, NonFiniteLossError
from memagents.config import RunConfig, resolve_config
from memagents.runs import Run
from memagents.training import (
    FitResult,
    InterruptGuard,
    SupervisedTrainer,
    _eval_batch_size,
    fit,
    summary_lines,
)

TINY = dict(
    circuit_kwargs=dict(memory_size=8, word_size=4, controller_size=16, num_reads=2),
    batch_size=4,
    eval_sequences=8,
    solved_sequences=8,
    num_threads=1,
    device="cpu",
)


def tiny_config(**changes):
    return resolve_config("dnc", None, {**TINY, **changes})


class FakeTrainer:
    """A trainer whose steps cost nothing: loss = step number."""

    kind, unit, script = "supervised", "sequences", "train.py"

    def __init__(self, fail_at=None, solve_at=None, **run):
        self.config = dataclasses.replace(RunConfig(), **run)
        self.config = type("C", (), {**dataclasses.asdict(self.config), "lr": 1e-3, "agent": "x"})()
        self.step = self.count = 0
        self.elapsed_before = 0.0
        self.fail_at, self.solve_at = fail_at, solve_at
        self.solved_at = self.last_eval = None
        self.on_step = None

    @property
    def solved(self):
        return self.solved_at is not None

    def train_step(self):
        if self.step + 1 == self.fail_at:
            raise NonFiniteLossError(f"loss is nan at step {self.step}")
        self.step += 1
        self.count += 2
        if self.on_step:
            self.on_step(self.step)
        return {"loss": float(self.step)}

    def describe_window(self, means):
        return f"loss {means['loss']}"

    def after_log(self, step, means, elapsed):
        return []

    def evaluate(self, elapsed):
        self.last_eval = {"step": self.step, "sequences": self.count}
        records = [("eval", self.last_eval)]
        if self.solve_at is not None and self.step >= self.solve_at and not self.solved:
            self.solved_at = {"step": self.step}
            records.append(("solved", self.solved_at))
        return records

    def checkpoint(self, elapsed):
        return {"kind": "supervised", "config": {}, "step": self.step, "optimizer": None,
                "circuit": {"name": "lstm", "input_size": 1, "output_size": 1, "config": {}},
                "model": {"w": torch.full((2,), float(self.step))}}  # fmt: skip

    def summary(self):
        return []


def events(result: FitResult):
    return [(r["kind"], r["step"]) for r in result.records]


def test_cadences_and_the_window_means():
    seen = []
    trainer = FakeTrainer(max_steps=7, log_every=3, eval_every=5, checkpoint_every=4)
    result = fit(trainer, callback=lambda kind, record: seen.append((kind, record)))
    assert result.status == "finished" and result.step == 7 and result.count == 14
    assert events(result) == [("train", 3), ("eval", 5), ("train", 6), ("train", 7), ("eval", 7)]
    assert [r["loss"] for r in result.records if r["kind"] == "train"] == [2.0, 5.0, 7.0]
    assert [kind for kind, _ in seen] == ["train", "eval", "train", "train", "eval"]


def test_checkpoints_at_their_cadence_and_at_the_end(tmp_path):
    seen = []
    with Run.create(tmp_path, "c") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        trainer = FakeTrainer(max_steps=9, log_every=100, eval_every=100, checkpoint_every=4)
        fit(trainer, run, callback=lambda kind, record: seen.append((kind, record.get("step"))))
    assert [step for kind, step in seen if kind == "checkpoint"] == [4, 8, 9]
    assert (
        checkpoint_module.load_checkpoint(tmp_path / "c" / "checkpoints" / "last.pt")["step"] == 9
    )


def test_stops_when_solved_unless_told_not_to():
    assert fit(FakeTrainer(max_steps=20, eval_every=2, solve_at=5)).step == 6
    trainer = FakeTrainer(max_steps=20, eval_every=2, solve_at=5, stop_when_solved=False)
    assert fit(trainer).step == 20


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_only_stops_at_the_next_step_boundary(tmp_path, signum):
    trainer = FakeTrainer(max_steps=100, log_every=100, eval_every=100, checkpoint_every=100)
    trainer.on_step = lambda step: os.kill(os.getpid(), signum) if step == 3 else None
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a background job
    with Run.create(tmp_path, "s") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        result = fit(trainer, run)
    assert (result.status, result.reason, result.step) == (
        "interrupted",
        signal.Signals(signum).name,
        3,
    )
    saved = checkpoint_module.load_checkpoint(tmp_path / "s" / "checkpoints" / "last.pt")
    assert saved["step"] == 3 and saved["model"]["w"].tolist() == [3.0, 3.0]
    assert signal.getsignal(signal.SIGINT) is handler_before  # restored


def test_a_second_ctrl_c_stops_at_once():
    with pytest.raises(KeyboardInterrupt), InterruptGuard() as guard:
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.requested == "SIGINT"
        os.kill(os.getpid(), signal.SIGINT)


def test_a_failure_writes_nothing_and_keeps_the_last_checkpoint(tmp_path):
    with Run.create(tmp_path, "f") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        trainer = FakeTrainer(max_steps=20, checkpoint_every=4, fail_at=7)
        result = fit(trainer, run)
        assert result.status == "failed" and "loss is nan at step 6" in result.reason
        lines = summary_lines(trainer, result, run)
    assert checkpoint_module.load_checkpoint(run.checkpoint_path)["step"] == 4
    assert any("the last good checkpoint" in line and "--lr 0.0001" in line for line in lines)


def test_an_overflowing_gradient_fails_with_the_skip_as_the_way_to_resume(tmp_path, monkeypatch):
    real = agent_module.apply_update

    def apply_update(optimizer, loss, clip_grad, *, step):
        if step == 2:
            raise NonFiniteGradientError(f"gradient norm is nan at step {step} (loss 1)")
        real(optimizer, loss, clip_grad, step=step)

    monkeypatch.setattr(agent_module, "apply_update", apply_update)
    with Run.create(tmp_path, "g") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        trainer = SupervisedTrainer(tiny_config(max_steps=5))
        result = fit(trainer, run)
        lines = summary_lines(trainer, result, run)
    assert result.status == "failed" and result.cause == "non-finite gradient"
    assert result.step == 2 and "gradient norm is nan at step 2" in result.reason
    assert any("--skip-nonfinite-steps 20" in line and "--lr" in line for line in lines)
    # with a skip allowed the same run goes on to the end, the skipped step counted
    with Run.create(tmp_path, "h") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        trainer = SupervisedTrainer(tiny_config(max_steps=5, skip_nonfinite_steps=1))
        result = fit(trainer, run)
    assert result.status == "finished" and result.step == 5 and trainer.agent.skipped == 1


def test_a_full_disk_fails_cleanly_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save
    with Run.create(tmp_path, "d") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        trainer = FakeTrainer(max_steps=20, checkpoint_every=4, log_every=100)

        def save(obj, handle):
            if obj["step"] >= 8:
                raise OSError(errno.ENOSPC, "No space left on device")
            real_save(obj, handle)

        monkeypatch.setattr(checkpoint_module.torch, "save", save)
        result = fit(trainer, run)
    assert result.status == "failed" and result.cause == "disk"
    assert "cannot write the run's files: [Errno 28] No space left on device" in result.reason
    lines = summary_lines(trainer, result, run)
    assert any("free some space, then resume" in line for line in lines)
    assert not any("--lr" in line for line in lines)
    assert checkpoint_module.load_checkpoint(run.checkpoint_path)["step"] == 4
    assert not list(run.checkpoint_path.parent.glob("*.tmp"))


def test_eval_batches_measure_exactly_the_number_asked_for():
    assert _eval_batch_size(1000) == 250 and _eval_batch_size(256) == 256
    assert _eval_batch_size(8) == 8 and _eval_batch_size(1024) == 256


# -- real trainers ---------------------------------------------------------------------------------


def params_and_optimizer(trainer):
    return (
        {k: v.clone() for k, v in trainer.circuit.state_dict().items()},
        trainer.agent.optimizer.state_dict(),
    )


def assert_same_state(a, b):
    (params_a, optim_a), (params_b, optim_b) = a, b
    for name in params_a:
        torch.testing.assert_close(params_a[name], params_b[name], rtol=0, atol=0, msg=name)
    for index, state in optim_a["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(optim_b["state"][index][key], value, rtol=0, atol=0)


def test_ctrl_c_inside_the_optimizer_step_resumes_to_a_straight_run(tmp_path):
    """The issue's torn update: a signal during optimizer.step used to checkpoint half an update.
    Now the step completes and the checkpoint is at the boundary, so the resumed run is exact."""
    config = tiny_config(max_steps=30, eval_every=1000, checkpoint_every=1000, log_every=1000)
    straight = SupervisedTrainer(config)
    fit(straight)

    torch.manual_seed(123)  # the RNG state at the start must not matter: the trainer seeds it
    first = SupervisedTrainer(config)
    real_step = first.agent.optimizer.step

    def step_with_a_signal_inside(*args, **kwargs):
        if first.agent.step == 11:
            os.kill(os.getpid(), signal.SIGINT)  # lands inside the update
        return real_step(*args, **kwargs)

    first.agent.optimizer.step = step_with_a_signal_inside
    with Run.create(tmp_path, "torn") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        result = fit(first, run)
    assert (result.status, result.step) == ("interrupted", 12)

    with Run.open("torn", tmp_path) as run:
        resumed = SupervisedTrainer(config)
        resumed.restore(run.load_checkpoint(), run.checkpoint_path)
        run.open_outputs(resumed_at=resumed.step, visdom=False)
        assert fit(resumed, run).status == "finished"
    assert_same_state(params_and_optimizer(resumed), params_and_optimizer(straight))


class NaNGradient(torch.autograd.Function):
    """Identity forward (a finite loss), NaN backward."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, float("nan"))


def test_a_finite_loss_with_non_finite_gradients_is_never_applied(tmp_path):
    config = tiny_config(max_steps=10, eval_every=1000, checkpoint_every=3, log_every=1000)
    trainer = SupervisedTrainer(config)
    real_unroll = trainer.circuit.unroll
    trainer.circuit.unroll = lambda inputs, *rest: (
        (lambda out: (NaNGradient.apply(out[0]), out[1]))(real_unroll(inputs, *rest))
        if trainer.agent.step == 4
        else real_unroll(inputs, *rest)
    )
    with Run.create(tmp_path, "nan") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        before = {k: v.clone() for k, v in trainer.circuit.state_dict().items()}
        trainer.agent.step = 4  # straight to the poisoned step
        result = fit(trainer, run)
    assert result.status == "failed" and "gradient norm is nan at step 4" in result.reason
    for name, value in trainer.circuit.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)  # nothing applied
    assert not run.checkpoint_path.exists()


def test_an_update_that_makes_parameters_non_finite_is_never_checkpointed(tmp_path):
    config = tiny_config(max_steps=10, eval_every=1000, checkpoint_every=2, log_every=1000, lr=1e38)
    trainer = SupervisedTrainer(config)
    with Run.create(tmp_path, "huge") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        result = fit(trainer, run)
    assert result.status == "failed"
    if run.checkpoint_path.exists():
        saved = checkpoint_module.load_checkpoint(run.checkpoint_path)
        assert all(torch.isfinite(t).all() for t in saved["model"].values())


def test_restore_refuses_a_checkpoint_of_another_circuit(tmp_path):
    ntm = resolve_config("ntm", None, {"circuit_kwargs": dict(memory_size=8, word_size=4,
                         controller_size=8), "device": "cpu", "batch_size": 2})  # fmt: skip
    payload = SupervisedTrainer(ntm).checkpoint(0.0)
    dnc = SupervisedTrainer(tiny_config())
    with pytest.raises(checkpoint_module.CheckpointError, match="it holds a ntm"):
        dnc.restore(payload, tmp_path / "last.pt")


def test_the_package_api_trains_in_memory_and_in_a_run_folder(tmp_path):
    """The README's in-process example, on a tiny budget."""
    from memagents import Run as PackageRun
    from memagents import SupervisedTrainer as PackageTrainer
    from memagents import fit as package_fit
    from memagents import resolve_config as package_resolve

    config = package_resolve("dnc", None, {**TINY, "max_steps": 6, "eval_every": 3, "seed": 2})
    seen = []
    result = package_fit(PackageTrainer(config), callback=lambda kind, r: seen.append(kind))
    assert result.status == "finished" and seen.count("eval") == 2
    with PackageRun.create(tmp_path, "my-dnc") as run:
        run.write_config(config)
        run.open_outputs(resumed_at=None, visdom=False)
        result = package_fit(PackageTrainer(config), run)
    assert (
        result.status == "finished" and (tmp_path / "my-dnc" / "checkpoints" / "last.pt").exists()
    )


def test_solved_lr_scale_lowers_the_rate_once_when_solved(monkeypatch):
    trainer = SupervisedTrainer(tiny_config(stop_when_solved=False, solved_lr_scale=0.1))
    perfect = BatchMetrics(loss_bits=0.0, bit_errors=0.0, perfect=1.0, num_sequences=4)
    monkeypatch.setattr(training_module, "evaluate", lambda *args, **kwargs: perfect)
    lr = [group["lr"] for group in trainer.agent.optimizer.param_groups]
    kinds = [kind for kind, _ in trainer.evaluate(1.0)]
    assert kinds == ["eval", "confirm", "solved"]
    assert [g["lr"] for g in trainer.agent.optimizer.param_groups] == pytest.approx(
        [0.1 * x for x in lr]
    )
    trainer.evaluate(2.0)  # already solved: no second cut
    assert [g["lr"] for g in trainer.agent.optimizer.param_groups] == pytest.approx(
        [0.1 * x for x in lr]
    )
    with pytest.raises(ValueError, match="solved_lr_scale"):
        tiny_config(solved_lr_scale=0.0)


def test_lr_drop_step_lowers_the_rate_at_that_step_unsolved_and_only_once():
    trainer = SupervisedTrainer(tiny_config(solved_lr_scale=0.1, lr_drop_step=2))
    lr = trainer.config.lr
    rates = []
    for _ in range(4):
        trainer.train_step()
        rates.append(trainer.agent.optimizer.param_groups[0]["lr"])
    # steps 0 and 1 at the rate, the update of step 2 on at a tenth; no second cut
    assert rates == pytest.approx([lr, lr, 0.1 * lr, 0.1 * lr])
    assert not trainer.solved
    with pytest.raises(ValueError, match="lr_drop_step"):
        tiny_config(lr_drop_step=-1)


def test_lr_cut_bit_errors_lowers_the_rate_at_the_first_eval_under_it_and_resumes_so(
    monkeypatch, tmp_path
):
    config = tiny_config(stop_when_solved=False, solved_lr_scale=0.1, lr_cut_bit_errors=2.0)
    trainer = SupervisedTrainer(config)
    figures = iter([3.0, 1.5, 1.0, 0.0, 0.0])  # the last: the confirmation of solved

    def fake_evaluate(*args, **kwargs):
        bit_errors = next(figures)
        return BatchMetrics(loss_bits=bit_errors, bit_errors=bit_errors, perfect=0.0,
                            num_sequences=4)  # fmt: skip

    monkeypatch.setattr(training_module, "evaluate", fake_evaluate)
    trainer.train_step()
    assert [kind for kind, _ in trainer.evaluate(1.0)] == ["eval"]  # 3.0: not yet
    assert trainer.agent.optimizer.param_groups[0]["lr"] == pytest.approx(config.lr)
    trainer.train_step()
    records = trainer.evaluate(2.0)  # 1.5: the cut, at this step
    assert [kind for kind, _ in records] == ["eval", "lr_cut"]
    assert records[1][1] == dict(step=2, bit_errors=1.5, lr=pytest.approx(0.1 * config.lr))
    assert trainer.agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * config.lr)
    assert [kind for kind, _ in trainer.evaluate(3.0)] == ["eval"]  # 1.0: no second cut
    # solved later (0.0, confirmed by the same fake): no second cut either
    assert [kind for kind, _ in trainer.evaluate(4.0)] == ["eval", "confirm", "solved"]
    assert trainer.agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * config.lr)
    # a run cut this way, not solved, resumes at the lowered rate and does not cut again
    unsolved = SupervisedTrainer(config)
    figures = iter([1.5])
    unsolved.evaluate(1.0)
    resumed = SupervisedTrainer(config)
    resumed.restore(unsolved.checkpoint(1.0), tmp_path / "last.pt")
    assert not resumed.solved and resumed.nearly_solved_at == 0
    assert resumed.agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * config.lr)
    # off by default; a negative threshold is refused with the field's name
    assert SupervisedTrainer(tiny_config()).nearly_solved_at is None
    with pytest.raises(ValueError, match="lr_cut_bit_errors"):
        tiny_config(lr_cut_bit_errors=-1.0)


def test_a_resumed_run_keeps_the_lowered_rate(monkeypatch, tmp_path):
    """Solved with solved_lr_scale (or past lr_drop_step), a run resumes at the lowered rate."""
    config = tiny_config(stop_when_solved=False, solved_lr_scale=0.1)
    trainer = SupervisedTrainer(config)
    perfect = BatchMetrics(loss_bits=0.0, bit_errors=0.0, perfect=1.0, num_sequences=4)
    monkeypatch.setattr(training_module, "evaluate", lambda *args, **kwargs: perfect)
    trainer.evaluate(1.0)
    payload = trainer.checkpoint(1.0)
    resumed = SupervisedTrainer(config)
    resumed.restore(payload, tmp_path / "last.pt")
    assert resumed.agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * config.lr)
    unsolved = SupervisedTrainer(tiny_config(solved_lr_scale=0.1, lr_drop_step=1))
    unsolved.train_step()
    unsolved.train_step()
    again = SupervisedTrainer(unsolved.config)
    again.restore(unsolved.checkpoint(1.0), tmp_path / "last.pt")
    assert again.agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * config.lr)
    before = SupervisedTrainer(tiny_config(solved_lr_scale=0.1, lr_drop_step=5))
    before.train_step()
    third = SupervisedTrainer(before.config)
    third.restore(before.checkpoint(1.0), tmp_path / "last.pt")
    assert third.agent.optimizer.param_groups[0]["lr"] == pytest.approx(config.lr)


def _weights(module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def test_average_decay_averages_the_weights_from_the_cut_and_that_is_the_model(
    monkeypatch, tmp_path
):
    config = tiny_config(solved_lr_scale=0.5, lr_drop_step=2, average_decay=0.75)
    trainer = SupervisedTrainer(config)
    seen = []
    for _ in range(5):
        trainer.train_step()
        seen.append(_weights(trainer.circuit))
        if len(seen) < 2:  # before the cut there is no average
            assert trainer.average is None
    # it starts at the weights at the cut (after update 2), then moves a quarter of the way
    expected = seen[1]
    for weights in seen[2:]:
        expected = {name: 0.75 * expected[name] + 0.25 * weights[name] for name in weights}
    assert not _same(seen[1], seen[-1])
    for name, value in expected.items():
        torch.testing.assert_close(trainer.average[name], value)
    # evaluations see the average; the trained weights are back afterwards
    evaluated = []

    def fake_evaluate(circuit, *args, **kwargs):
        evaluated.append(_weights(circuit))
        return BatchMetrics(loss_bits=1.0, bit_errors=1.0, perfect=0.0, num_sequences=4)

    monkeypatch.setattr(training_module, "evaluate", fake_evaluate)
    trainer.evaluate(1.0)
    assert _same(evaluated[0], trainer.average) and _same(_weights(trainer.circuit), seen[-1])
    # the checkpoint's model is the average (what load_circuit and export read); a resumed run
    # trains on from the trained weights and keeps averaging exactly as the straight one
    payload = trainer.checkpoint(1.0)
    assert _same(payload["model"], trainer.average)
    assert _same(payload["extra"]["trained_model"], seen[-1])
    path = checkpoint_module.save_checkpoint(tmp_path / "last.pt", payload)
    resumed = SupervisedTrainer(config)
    resumed.restore(checkpoint_module.load_checkpoint(path), path)
    assert _same(_weights(resumed.circuit), seen[-1]) and _same(resumed.average, trainer.average)
    trainer.train_step()
    resumed.train_step()
    assert _same(_weights(resumed.circuit), _weights(trainer.circuit))
    assert _same(resumed.average, trainer.average)
    with pytest.raises(ValueError, match="average_decay"):
        tiny_config(average_decay=1.0)


def test_without_average_decay_the_model_is_the_trained_weights():
    trainer = SupervisedTrainer(tiny_config(solved_lr_scale=0.5, lr_drop_step=1))
    for _ in range(3):
        trainer.train_step()
    assert trainer.average is None
    payload = trainer.checkpoint(1.0)
    assert "trained_model" not in payload["extra"]
    assert _same(payload["model"], _weights(trainer.circuit))


def test_skip_nonfinite_steps_is_a_count_and_shows_in_the_log_line():
    with pytest.raises(ValueError, match="skip_nonfinite_steps"):
        tiny_config(skip_nonfinite_steps=-1)
    means = dict(loss_bits=1.0, bit_errors=2.0, perfect=0.0, ms_per_sequence=1.0)
    assert "skipped" not in SupervisedTrainer.describe_window({**means, "skipped": 0.0})
    line = SupervisedTrainer.describe_window({**means, "skipped": 0.04})
    assert line.endswith(", 4% of updates skipped")


def test_max_seconds_ends_the_run_with_an_evaluation_and_a_checkpoint(tmp_path):
    with Run.create(tmp_path, "t") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        trainer = FakeTrainer(max_steps=100, eval_every=50, checkpoint_every=50, max_seconds=1e-9)
        result = fit(trainer, run)
    assert result.status == "finished" and result.step == 1
    assert result.reason == "time limit: 1e-09 s of training"
    assert ("eval", 1) in events(result)
    assert checkpoint_module.load_checkpoint(tmp_path / "t/checkpoints/last.pt")["step"] == 1
    with pytest.raises(ValueError, match="max_seconds"):
        tiny_config(max_seconds=-1.0)


def test_min_train_memory_size_trains_each_batch_on_a_memory_it_draws(monkeypatch):
    """Each batch's slots are drawn from its seed in min..memory_size, the unroll gets a state
    of that many slots, the draw repeats with the seed, and only an NTM takes the option."""
    from memagents.agent import batch_seed

    sizes = dict(memory_size=16, word_size=4, controller_size=8)
    config = resolve_config("ntm", None, {"circuit_kwargs": sizes, "batch_size": 2,
                                          "min_train_memory_size": 8})  # fmt: skip
    trainer = SupervisedTrainer(config)
    agent = trainer.agent
    drawn = [agent.train_memory_size(batch_seed(config.seed, step)) for step in range(300)]
    assert min(drawn) == 8 and max(drawn) == 16 and len(set(drawn)) == 9
    seen = []
    unroll = agent.circuit.unroll

    def spy(inputs, state):
        seen.append(state.access.memory.shape[1])
        return unroll(inputs, state)

    monkeypatch.setattr(agent.circuit, "unroll", spy)
    for _ in range(5):
        trainer.train_step()
    assert seen == drawn[:5]
    again = SupervisedTrainer(config).agent
    assert [again.train_memory_size(batch_seed(config.seed, s)) for s in range(5)] == drawn[:5]
    # off: every batch on the whole memory (the circuit's own initial state)
    plain = SupervisedTrainer(dataclasses.replace(config, min_train_memory_size=0)).agent
    assert plain.train_memory_size(batch_seed(config.seed, 0)) is None
    for agent_name, value in (("ntm", 17), ("ntm", 2), ("dnc", 8)):
        with pytest.raises(ValueError, match="min_train_memory_size"):
            resolve_config(agent_name, None, {"circuit_kwargs": sizes,
                                              "min_train_memory_size": value})  # fmt: skip


def test_train_env_kwargs_change_the_training_batches_and_not_the_evaluations():
    """RepeatCopy with every word set to zeros in training only: the trainer's batches hold
    nothing but zero words, its evaluation and confirmation batches hold the task's own."""
    from memagents.agent import batch_sampler

    config = tiny_config(env_kwargs=dict(bits=4, min_length=3, max_length=3),
                         train_env_kwargs=dict(zero_items=1.0))  # fmt: skip
    assert config.train_task_kwargs["zero_items"] == 1.0 and "zero_items" not in config.task_kwargs
    trainer = SupervisedTrainer(config)
    words = lambda envs: batch_sampler(envs)(0, None).inputs[:, 1:4, :4]  # noqa: E731
    assert not words(trainer.envs).any()
    assert words(trainer.eval_envs).any() and words(trainer.confirm_envs).any()
    # merged key by key, kept in the saved config, and refused by the task when it is bad
    from memagents.config import TrainConfig, apply_overrides

    merged = apply_overrides(config, {"train_env_kwargs": {"max_length": 2}})
    assert dict(merged.train_env_kwargs) == {"zero_items": 1.0, "max_length": 2}
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"zero_items must be a number in \[0, 1\]"):
        SupervisedTrainer(tiny_config(train_env_kwargs=dict(zero_items=2.0)))
