"""memtasks: the algorithmic tasks of the NTM and DNC papers as Gymnasium environments.

`import memtasks` registers the ids in `TASK_IDS` with Gymnasium (idempotently). Tools that take
only an id string can use the module-qualified form, which imports memtasks on the fly:
`gymnasium.make("memtasks:memtasks/Copy-v0")`. Every id has a `vector_entry_point`, the native
vector env, so `gymnasium.make_vec(id, num_envs=64)` steps 64 episodes at once.

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


def _register() -> None:
    for env_id, (entry_point, vector_entry_point) in _ENTRY_POINTS.items():
        if env_id not in registry:
            # No max_episode_steps: episodes end by themselves.
            register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)


_register()

__all__ = [
    "TASK_IDS",
    "TaskBatch",
    "dynamic_ngrams_optimal_cost",
    "sample_associative_recall",
    "sample_copy",
    "sample_dynamic_ngrams",
    "sample_priority_sort",
    "sample_repeat_copy",
]
