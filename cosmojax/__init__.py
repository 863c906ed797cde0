"""cosmojax: generating and scoring cosmology images with JAX/Flax.

Submodules are imported on use (``from cosmojax import sampling``), so that
importing the package stays cheap for the data tools, which need no JAX.
:func:`run` trains from Python as ``train_<task>.py`` does on the command line.
"""

from __future__ import annotations

import os


def run(config, workdir: str | os.PathLike, **overrides):
    """Trains ``config`` (a ConfigDict, or a config file such as
    ``"configs/vae.py"``) with ``overrides`` in ``workdir``, exactly as
    ``python train_<task>.py --config=FILE --workdir=DIR`` does
    (:func:`cosmojax.training.run`); running it again resumes.

    >>> import cosmojax
    >>> cosmojax.run("configs/vae.py", "runs/vae", num_steps=600)  # doctest: +SKIP
    """
    from cosmojax import training

    return training.run(config, workdir, **overrides)


def __getattr__(name: str):
    if name == "__version__":  # the installed package's, read on first use
        from importlib import metadata

        try:
            return metadata.version("cosmojax")
        except metadata.PackageNotFoundError:
            return "0+unknown"  # a source tree that was never installed
    raise AttributeError(f"module 'cosmojax' has no attribute {name!r}")
