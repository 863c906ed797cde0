"""Loading a trained workdir outside the training loop (REPL, prediction, generation)."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from cosmojax.train import checkpoint as ckpt_lib


def load_run(workdir: str | os.PathLike, *, step: int | None = None, best: bool = False):
    """Returns ``(task, state, step)`` of a workdir: its saved config, the model it
    describes and the state of checkpoint ``step`` (default: the best by the
    validation metric if ``best``, else the latest). The state is on the host's
    default device, unsharded."""
    from cosmojax import tasks

    workdir = Path(workdir).expanduser()
    config = ckpt_lib.load_config(workdir)
    task = tasks.build(config)
    ckpt = ckpt_lib.Checkpoints(workdir, best_metric=task.best_metric, read_only=True)
    try:
        if step is None:
            step = ckpt.best_step() if best else ckpt.latest_step()
        if step is None:
            raise FileNotFoundError(f"{workdir}: no checkpoint yet; train first")
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        abstract = ckpt_lib.abstract_like(
            jax.eval_shape(task.init_state, jax.random.PRNGKey(0)), device
        )
        state, _ = ckpt.restore(step, abstract)
    finally:
        ckpt.close()
    return task, state, int(step)
