"""Training from Python, as the ``train_<task>.py`` scripts train.

    >>> from cosmojax import training
    >>> training.run("configs/vae.py", "runs/vae", num_steps=600)  # doctest: +SKIP

``cosmojax.run`` is :func:`run`; the scripts call :func:`train` with the
config their flags resolved.
"""

from __future__ import annotations

import os


def train(config, workdir: str | os.PathLike):
    """Builds the task that ``config`` describes and trains it in ``workdir``
    (resuming from its latest checkpoint); returns the loop's result."""
    from cosmojax import tasks
    from cosmojax.train import loop

    return loop.train_and_evaluate(config, workdir, task=tasks.build(config))


def run(config, workdir: str | os.PathLike, **overrides):
    """Trains ``config`` (a ConfigDict, or a config file such as
    ``"configs/vae.py"``) with ``overrides`` (dotted field names, as
    ``--config.<field>=value``; :func:`cosmojax.configlib.load`) in ``workdir``,
    exactly as ``python train_<task>.py --config=FILE --workdir=DIR`` does;
    running it again with the same workdir resumes. Returns the training
    loop's result (``.state``: the final state, ``.step``, ``.eval_metrics``).

    >>> import cosmojax
    >>> cosmojax.run("configs/vae.py", "runs/vae", num_steps=600)  # doctest: +SKIP
    """
    from cosmojax import configlib

    if isinstance(config, (str, os.PathLike)):
        config = configlib.load(config, **overrides)
    else:
        config = configlib.override(config, **overrides)
    return train(config, workdir)
