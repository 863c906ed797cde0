"""Loading a trained workdir outside the training loop (REPL, prediction, generation)."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from cosmojax.train import checkpoint as ckpt_lib


def load_run(workdir: str | os.PathLike, *, step: int | None = None, best: bool = False):
    """Returns ``(task, state, step)`` of a workdir: its saved config, the model it
    describes and the parameters and model state (``state.params``,
    ``state.model_state``; no optimizer state) of checkpoint ``step`` (default:
    the best by the validation metric if ``best``, else the latest). The state
    is on the host's default device, unsharded."""
    from cosmojax import tasks

    workdir = Path(workdir).expanduser()
    task = tasks.build(ckpt_lib.load_config(workdir))
    state, step = ckpt_lib.restore_params(
        workdir,
        step=step,
        best_metric=task.best_metric if best else None,
        abstract=jax.eval_shape(task.init_state, jax.random.PRNGKey(0)),
    )
    return task, state, step
