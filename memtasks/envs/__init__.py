"""The single (one episode at a time) environments."""

from memtasks.envs.base import BitSequenceEnv, Task
from memtasks.envs.copy import CopyEnv, CopyTask
from memtasks.envs.repeat_copy import RepeatCopyEnv, RepeatCopyTask

__all__ = ["BitSequenceEnv", "CopyEnv", "CopyTask", "RepeatCopyEnv", "RepeatCopyTask", "Task"]
