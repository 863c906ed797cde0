"""Training tasks: what differs between the scorer, the VAE and the GAN.

Each task gives the shared loop (:mod:`cosmojax.train.loop`) its state, its
per-device train step, its data and its evaluation.
"""

from __future__ import annotations

import importlib

from cosmojax.configlib import ConfigError

TASKS = {
    "scorer": "cosmojax.tasks.scorer:ScorerTask",
    "vae": "cosmojax.tasks.vae:VAETask",
    "gan": "cosmojax.tasks.gan:GANTask",
    "sources": "cosmojax.tasks.sources:SourceTask",
}


def build(config):
    """The task object for ``config.task``."""
    if config.task not in TASKS:
        raise ConfigError(
            f"config.task: unknown task {config.task!r}; expected one of {', '.join(sorted(TASKS))}"
        )
    module, name = TASKS[config.task].split(":")
    return getattr(importlib.import_module(module), name)(config)
