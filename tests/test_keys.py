"""PRNG keys: one key, one use (init, each step, each purpose, each example)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax.tasks import vae as vae_task
from cosmojax.train import state as state_lib


def test_keys_of_init_steps_purposes_and_examples_are_all_distinct():
    rng = jax.random.PRNGKey(0)
    state = state_lib.TrainState(jnp.zeros((), jnp.int32), {}, {}, {}, rng)
    keys = {"init": state_lib.init_key(rng)}
    for step in range(4):
        s = state.replace(step=jnp.asarray(step, jnp.int32))
        keys[f"step{step}"] = s.step_key()
        for purpose, k in vae_task.step_keys(s).items():
            keys[f"step{step}/{purpose}"] = k
            for i in range(8):  # what parallel.example_keys gives examples 0..7
                keys[f"step{step}/{purpose}/{i}"] = jax.random.fold_in(k, i)
    raw = {name: tuple(np.asarray(jax.random.key_data(k)).ravel()) for name, k in keys.items()}
    seen = {}
    for name, value in raw.items():
        assert value not in seen, f"{name} reuses the key of {seen.get(value)}"
        seen[value] = name
    assert len(seen) == 1 + 4 * (1 + 2 * 9)
