"""Action wrappers for RL libraries that cannot take ``MultiBinary(O)`` actions.

The envs themselves take ``action_space="multidiscrete"`` or ``"discrete"`` (the same mappings,
see ``memtasks.envs.base.make_action_space``); these wrappers are for an env made elsewhere.
numpy + gymnasium only, like the rest of memtasks.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class MultiBinaryToDiscrete(gym.ActionWrapper):
    """``MultiBinary(O)`` -> ``Discrete(2**O)``, for libraries that take Discrete actions only.

    Action k plays the bits of k, least significant first: bit i = (k >> i) & 1. The policy then
    picks among 2**O joint actions (fine for O <= 10; O is capped at 16).
    """

    max_bits = 16

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.MultiBinary) or len(space.shape) != 1:
            raise ValueError(f"expected a MultiBinary(O) action space, got {space}")
        self.bits = int(space.shape[0])
        if self.bits > self.max_bits:
            raise ValueError(
                f"MultiBinary({self.bits}) would need Discrete(2**{self.bits}) actions; "
                f"at most {self.max_bits} bits (use MultiBinaryToMultiDiscrete)"
            )
        self.action_space = gym.spaces.Discrete(2**self.bits)
        self._powers = 1 << np.arange(self.bits)

    def action(self, action: Any) -> np.ndarray:
        """Index k -> (O,) int8 bits."""
        return ((int(action) & self._powers) > 0).astype(np.int8)

    def index(self, bits: Any) -> int:
        """(O,) bits -> index k: the inverse of ``action``."""
        return int(np.dot(np.asarray(bits, dtype=np.int64) > 0, self._powers))


class MultiBinaryToMultiDiscrete(gym.ActionWrapper):
    """``MultiBinary(O)`` -> ``MultiDiscrete([2] * O)``: the same bits, as int64 categorical
    choices. sb3-contrib's RecurrentPPO (2.9.2) needs it: its rollout buffer keeps MultiBinary
    actions as int8, which its Bernoulli log-probability refuses (docs/RL.md)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.MultiBinary) or len(space.shape) != 1:
            raise ValueError(f"expected a MultiBinary(O) action space, got {space}")
        self.action_space = gym.spaces.MultiDiscrete(np.full(space.shape[0], 2, dtype=np.int64))

    def action(self, action: Any) -> np.ndarray:
        return np.asarray(action).astype(np.int8)
