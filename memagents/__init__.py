"""memagents: Neural Turing Machines, Differentiable Neural Computers and an LSTM baseline,
with a supervised agent that learns from any env that follows the memtasks convention.

The map of the package (in the words of jingweiz/pytorch-dnc, which this project succeeds, where
they name a real thing):
    addressing.py   the memory math as pure tensor functions (content, shift, sharpen, usage,
                    allocation, temporal links, read modes)
    access.py       the NTM and DNC memory accessors: heads reading and writing a memory
    kernels/        the same access steps fused in C for the CPU, with hand-written backward
    controllers.py  LSTM and feed-forward controllers
    circuits.py     NTM, DNC and LSTM circuits, and build_circuit()
    agent.py        the supervised agent: sampled batches (or rollouts) of a task, losses, metrics
    rl.py           circuits as Bernoulli policies: PPO / REINFORCE from the env's reward alone
    config.py       typed configs (NTMConfig, DNCConfig, LSTMConfig, TrainConfig) and presets
    training.py     the in-process training API: trainers and fit(), the one training loop
    runs.py         a run folder while it trains: lock, config, metrics, plots, checkpoint
    checkpoint.py   the checkpoint layout (one writer), atomic writes, weights-only loads
    cli.py          the training scripts' shared flags and resume rules
    sweeps.py       sweep specs and results tables (scripts/sweep.py runs them on Ray Tune)
    evaluation.py   loading trained circuits, length generalisation, episode traces
    plotting.py     visdom plots with PNG files as the fallback
    visdom_server.py  visdom's web assets from npm, and an offline server
"""

__version__ = "0.1.0"

# The entry points, imported on first use (PEP 562) so that `import memagents.visdom_server` and
# friends do not import torch.
_EXPORTS = {
    "build_circuit": "memagents.circuits",
    "NTM": "memagents.circuits",
    "DNC": "memagents.circuits",
    "LSTM": "memagents.circuits",
    "SupervisedAgent": "memagents.agent",
    "TrainConfig": "memagents.config",
    "NTMConfig": "memagents.config",
    "DNCConfig": "memagents.config",
    "LSTMConfig": "memagents.config",
    "PRESETS": "memagents.config",
    "resolve_config": "memagents.config",
    "RLConfig": "memagents.rl",
    "Run": "memagents.runs",
    "SupervisedTrainer": "memagents.training",
    "PolicyTrainer": "memagents.training",
    "fit": "memagents.training",
    "load_circuit": "memagents.evaluation",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'memagents' has no attribute {name!r}")
