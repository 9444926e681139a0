"""memtasks: the algorithmic tasks of the NTM and DNC papers as Gymnasium environments.

`import memtasks` registers the ids in `TASK_IDS` and their named levels in `LEVEL_IDS`
(`memtasks/Copy-Easy-v0`, `-Medium-v0`, `-Hard-v0`; all of them in `ALL_IDS`) with Gymnasium
(idempotently), each with `reward_threshold` 0.95. Tools that take only an id string, or make
envs in other processes, can use the module-qualified form, which imports memtasks on the fly:
`gymnasium.make("memtasks:memtasks/Copy-v0")`. Every id has a `vector_entry_point`, the native
vector env, so `gymnasium.make_vec(id, num_envs=64)` steps 64 episodes at once. docs/RL.md
describes the levels, the curriculum hook and the action-space variants.

Layout: `memtasks.sampling` (pure batch samplers, the one source of truth for the data),
`memtasks.envs` (single envs), `memtasks.vector` (native vector envs), `memtasks.render`.
This package needs only numpy and gymnasium.
"""

from gymnasium.envs.registration import register, registry

from memtasks.sampling import (
    TaskBatch,
    dynamic_ngrams_optimal_cost,
    sample_associative_recall,
    sample_copy,
    sample_dynamic_ngrams,
    sample_priority_sort,
    sample_repeat_copy,
)

TASK_IDS: tuple[str, ...] = (
    "memtasks/Copy-v0",
    "memtasks/RepeatCopy-v0",
    "memtasks/AssociativeRecall-v0",
    "memtasks/DynamicNGrams-v0",
    "memtasks/PrioritySort-v0",
)

_ENTRY_POINTS = {
    "memtasks/Copy-v0": ("memtasks.envs.copy:CopyEnv", "memtasks.vector:CopyVectorEnv"),
    "memtasks/RepeatCopy-v0": (
        "memtasks.envs.repeat_copy:RepeatCopyEnv",
        "memtasks.vector:RepeatCopyVectorEnv",
    ),
    # The NTM paper's other tasks (section 4.3-4.5); their vector envs live beside them.
    "memtasks/AssociativeRecall-v0": (
        "memtasks.envs.associative_recall:AssociativeRecallEnv",
        "memtasks.envs.associative_recall:AssociativeRecallVectorEnv",
    ),
    "memtasks/DynamicNGrams-v0": (
        "memtasks.envs.dynamic_ngrams:DynamicNGramsEnv",
        "memtasks.envs.dynamic_ngrams:DynamicNGramsVectorEnv",
    ),
    "memtasks/PrioritySort-v0": (
        "memtasks.envs.priority_sort:PrioritySortEnv",
        "memtasks.envs.priority_sort:PrioritySortVectorEnv",
    ),
}


# Named levels, as memory-RL suites have them (POPGym's Easy/Medium/Hard):
# `memtasks/<Task>-<Level>-v0` is `memtasks/<Task>-v0` with these kwargs (other kwargs, e.g.
# reward_mode, pass through).
# Easy needs memory: a memoryless policy on a stack of the last `max_length` observations never
# sees a word it must output (the argument is in docs/RL.md "Levels", checked in
# tests/test_memtasks_levels.py). Hard is the NTM paper's size.
LEVELS: dict[str, dict[str, dict]] = {
    "memtasks/Copy-v0": {
        "Easy": dict(bits=2, min_length=2, max_length=3),
        "Medium": dict(bits=4, min_length=1, max_length=10),
        "Hard": dict(bits=8, min_length=1, max_length=20),
    },
    "memtasks/RepeatCopy-v0": {
        "Easy": dict(bits=2, min_length=2, max_length=3, min_repeats=1, max_repeats=2),
        "Medium": dict(bits=4, min_length=1, max_length=5, min_repeats=1, max_repeats=5),
        "Hard": dict(bits=8, min_length=1, max_length=10, min_repeats=1, max_repeats=10),
    },
    # The NTM paper's other tasks: Hard is the paper's set-up (section 4.3-4.5). In associative
    # recall each answer vector comes at least 2 * item_length + 2 steps after it was shown, so
    # no stack of that many frames holds it.
    "memtasks/AssociativeRecall-v0": {
        "Easy": dict(bits=3, item_length=1, min_items=2, max_items=3),
        "Medium": dict(bits=4, item_length=2, min_items=2, max_items=4),
        "Hard": dict(bits=6, item_length=3, min_items=2, max_items=6),
    },
    "memtasks/DynamicNGrams-v0": {
        "Easy": dict(order=2, length=50),
        "Medium": dict(order=4, length=100),
        "Hard": dict(order=6, length=200),
    },
    "memtasks/PrioritySort-v0": {
        "Easy": dict(bits=2, num_inputs=4, num_outputs=2),
        "Medium": dict(bits=4, num_inputs=10, num_outputs=8),
        "Hard": dict(bits=8, num_inputs=20, num_outputs=16),
    },
}


def level_id(env_id: str, level: str) -> str:
    """`memtasks/Copy-v0`, "Easy" -> `memtasks/Copy-Easy-v0`."""
    name, version = env_id.rsplit("-", 1)
    return f"{name}-{level}-{version}"


LEVEL_IDS: tuple[str, ...] = tuple(
    level_id(env_id, level) for env_id, levels in LEVELS.items() for level in levels
)
ALL_IDS: tuple[str, ...] = TASK_IDS + LEVEL_IDS
"""Every id `import memtasks` registers: the tasks and their levels."""


UNSOLVABLE_IDS = ("memtasks/DynamicNGrams-v0",)
"""Tasks registered without a solved threshold (and their levels): in dynamic N-grams even the
optimal Bayesian estimator gets about 22% of the bits wrong, so no return of 0.95 exists; report
the cost against `memtasks.sampling.dynamic_ngrams_optimal_cost` instead."""


def _register() -> None:
    from memtasks.envs.base import SOLVED_RETURN

    for env_id, (entry_point, vector_entry_point) in _ENTRY_POINTS.items():
        variants = {env_id: {}}
        variants.update(
            {level_id(env_id, level): kwargs for level, kwargs in LEVELS.get(env_id, {}).items()}
        )
        for variant_id, kwargs in variants.items():
            if variant_id not in registry:
                # No max_episode_steps: episodes end by themselves.
                register(
                    id=variant_id,
                    entry_point=entry_point,
                    vector_entry_point=vector_entry_point,
                    reward_threshold=None if env_id in UNSOLVABLE_IDS else SOLVED_RETURN,
                    kwargs=dict(kwargs),
                )


_register()

__all__ = [
    "ALL_IDS",
    "LEVELS",
    "LEVEL_IDS",
    "TASK_IDS",
    "TaskBatch",
    "dynamic_ngrams_optimal_cost",
    "sample_associative_recall",
    "sample_copy",
    "sample_dynamic_ngrams",
    "sample_priority_sort",
    "sample_repeat_copy",
]
