"""The training state: a pytree of arrays only, so that Orbax saves it as is and
``jax.eval_shape`` can build its abstract twin for restoring."""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


@struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: number of updates applied
    params: Any
    opt_state: Any
    model_state: Any  # non-trained collections such as batch_stats; {} when none
    rng: jax.Array  # base PRNG key; the key of step s is fold_in(rng, s)

    def step_key(self) -> jax.Array:
        return jax.random.fold_in(self.rng, self.step)
