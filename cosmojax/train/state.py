"""The training state: a pytree of arrays only, so that Orbax saves it as is and
``jax.eval_shape`` can build its abstract twin for restoring.

Keys, one per use: the run key ``rng`` is split once into an *init* key (the
parameters) and a *loop* key; the loop key is folded with the step number, and
a step that needs several random streams (augmentation, latent noise, ...)
splits its step key into one key per purpose (:meth:`TrainState.step_keys`).
Per-example keys are ``fold_in`` of a purpose key with the example's global
index, so no two uses can share a key (step 0 no longer reuses the init key,
and example 1's noise no longer equals the augmentation parent).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


def init_key(rng: jax.Array) -> jax.Array:
    """The key the parameters are initialised from (never used by a step)."""
    return jax.random.split(rng)[0]


def loop_key(rng: jax.Array) -> jax.Array:
    """The parent of every step key."""
    return jax.random.split(rng)[1]


@struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: number of updates applied
    params: Any
    opt_state: Any
    model_state: Any  # non-trained collections such as batch_stats; {} when none
    rng: jax.Array  # run key: init_key(rng) for the parameters, loop_key(rng) for steps

    @classmethod
    def create(cls, params, opt_state, rng, model_state=None) -> TrainState:
        """The state at step 0."""
        zero = jax.numpy.zeros((), jax.numpy.int32)
        return cls(zero, params, opt_state, {} if model_state is None else model_state, rng)

    def step_key(self) -> jax.Array:
        """The key of this step: ``fold_in(loop_key(rng), step)``."""
        return jax.random.fold_in(loop_key(self.rng), self.step)

    def step_keys(self, n: int) -> jax.Array:
        """``n`` independent keys of this step, one per purpose."""
        return jax.random.split(self.step_key(), n)
