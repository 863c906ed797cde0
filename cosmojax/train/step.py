"""The update every task's train step ends with, written once.

Inside a data-parallel step (:func:`cosmojax.train.parallel.data_parallel`)
each device holds the gradient of its own shard's mean loss. :func:`apply_mean`
averages it (and the step's reported values) over the ``data`` axis, so every
device applies the same update, the mean gradient of the global batch, then
updates the parameters with the optimizer and reports the gradient's norm.
"""

from __future__ import annotations

import optax

from cosmojax.train import parallel


def apply_mean(tx, params, opt_state, grads, values):
    """``grads`` and ``values`` averaged over devices, then one ``tx`` update.

    Returns ``(params, opt_state, values, grad_norm)`` with the averaged values
    and the norm of the averaged gradient.

    >>> import jax, jax.numpy as jnp, optax
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.make_mesh((1,), ("data",))
    >>> f = jax.shard_map(lambda p, g: apply_mean(optax.sgd(0.5), p, optax.sgd(0.5).init(p),
    ...     g, {})[0], mesh=mesh, in_specs=(P(), P()), out_specs=P(), check_vma=False)
    >>> f(jnp.ones(2), jnp.ones(2)).tolist()
    [0.5, 0.5]
    """
    grads, values = parallel.pmean((grads, values))
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, values, optax.tree.norm(grads)
