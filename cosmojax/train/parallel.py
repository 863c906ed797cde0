"""Data parallelism: per-device SPMD code under ``jax.shard_map`` on a 1-D mesh.

A train step is written for one device's shard of the batch, with
``lax.pmean(..., AXIS)`` to average gradients (the programming model of
``pmap``, which JAX has put into maintenance mode). :func:`data_parallel`
wraps it with ``shard_map`` over all devices of all processes and ``jax.jit``,
donating the state. On one device the collectives are no-ops, so the same code
runs unchanged on 1 and on N devices, on one host or many.

``check_vma=False`` keeps pmap's semantics: inside the step, a gradient with
respect to the replicated parameters is the device's own gradient until
``pmean`` averages it. (With varying-manual-axes checking on, JAX would insert
an implicit ``psum`` in the gradient of replicated inputs and a following
``pmean`` would return N times the mean.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "data"


def make_mesh() -> jax.sharding.Mesh:
    """1-D mesh over every device of every process, axis ``data``."""
    return jax.make_mesh((jax.device_count(),), (AXIS,), axis_types=(AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, P(AXIS))


def data_parallel(step_fn, mesh, *, donate: bool = True, resident: bool = False):
    """``step_fn(state, batch) -> (state, out)`` per device -> jitted global step.

    ``state`` and ``out`` are replicated; ``batch`` is split over ``data``.
    With ``resident``, the step takes a third argument, the training images and
    targets held on every device (:func:`resident_data`), and ``batch`` is
    ``{"index": global example indices}``: each device gathers its own rows, so
    no image crosses from the host during training.
    """
    if resident:
        inner = step_fn

        def step_fn(state, batch, data):
            idx = batch["index"]
            rows = {
                "image": data["images"][idx].astype(jnp.float32)[..., None],
                "target": data["targets"][idx],
            }
            if "stats" in data:
                rows["stats"] = data["stats"][idx]
            return inner(state, rows)

    in_specs = (P(), P(AXIS), P()) if resident else (P(), P(AXIS))
    sharded = jax.shard_map(
        step_fn, mesh=mesh, in_specs=in_specs, out_specs=(P(), P()), check_vma=False
    )
    return jax.jit(sharded, donate_argnums=(0,) if donate else ())


def resident_data(split, mesh) -> dict:
    """A training split (float16 images, targets, statistics if any) replicated on
    every device."""
    data = {"images": np.asarray(split.images), "targets": np.asarray(split.targets, np.float32)}
    if split.stats is not None:
        data["stats"] = np.asarray(split.stats, np.float32)
    return replicate(data, mesh)


def shard_batch(batch: dict, mesh) -> dict:
    """This process's rows of a global batch -> global arrays split over ``data``.

    Non-numeric entries (ids) stay on the host and are dropped.
    """
    sharding = batch_sharding(mesh)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
        for k, v in batch.items()
        if np.asarray(v).dtype.kind in "fiub"
    }


def host_local(tree):
    """Numpy copies of replicated arrays, also when they span other processes'
    devices (each process reads its own replica)."""

    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(x.addressable_shards[0].data)
        return np.asarray(x)

    return jax.tree.map(get, tree)


def replicate(tree, mesh):
    return jax.device_put(tree, replicated(mesh))


def local_example_index(local_batch: int) -> jax.Array:
    """Global row index of each example of this device's shard (inside shard_map)."""
    return jax.lax.axis_index(AXIS) * local_batch + jnp.arange(local_batch)


def example_keys(key: jax.Array, local_batch: int) -> jax.Array:
    """One PRNG key per example, from its global row index: the random numbers an
    example gets do not depend on how many devices share the batch."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(local_example_index(local_batch))


def example_normals(key: jax.Array, local_batch: int, dim: int) -> jax.Array:
    """``[local_batch, dim]`` standard normals, one draw per example from
    :func:`example_keys` (latents, reparameterisation noise)."""
    keys = example_keys(key, local_batch)
    return jax.vmap(lambda k: jax.random.normal(k, (dim,)))(keys)


def pmean(tree):
    return jax.lax.pmean(tree, AXIS)


def psum(tree):
    return jax.lax.psum(tree, AXIS)
