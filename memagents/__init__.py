"""memagents: Neural Turing Machines, Differentiable Neural Computers and an LSTM baseline,
with a supervised agent that learns from any env that follows the memtasks convention.

The map of the package (the seed's words, where they name a real thing):
    addressing.py   the memory math as pure tensor functions (content, shift, sharpen, usage,
                    allocation, temporal links, read modes)
    access.py       the NTM and DNC memory accessors: heads reading and writing a memory
    kernels/        the same access steps fused in C for the CPU, with hand-written backward
    controllers.py  LSTM and feed-forward controllers
    circuits.py     NTM, DNC and LSTM circuits, and build_circuit()
    agent.py        the supervised agent: rollouts through gymnasium.make_vec, losses, metrics
    config.py       TrainConfig and the named presets
    checkpoint.py   atomic, weights-only checkpoints
    runs.py         run folders, metrics files, logging
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
    "PRESETS": "memagents.config",
    "load_circuit": "memagents.evaluation",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'memagents' has no attribute {name!r}")
