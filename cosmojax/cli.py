"""Command-line entry for the training scripts: flags, multi-host start, one call.

``python train_<task>.py --config=configs/<task>.py --workdir=DIR`` with
``--config.<field>=value`` overrides (unknown fields and wrong types are
refused before any work starts) and, for multi-host runs, either
``--coordinator_address=HOST:PORT --num_processes=N --process_id=I`` or a
cluster environment JAX recognises (SLURM, Open MPI, TPU pods).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags

import cosmojax.data  # noqa: F401  (TensorFlow's environment defaults, before TF loads)

_DONE = False
_DEFAULT_CONFIG = ""


def _define(default_config: str):
    global _DONE, _DEFAULT_CONFIG
    if _DONE:
        return
    _DEFAULT_CONFIG = default_config
    config_flags.DEFINE_config_file(
        "config", default_config, "Training config file.", lock_config=True
    )
    flags.DEFINE_string(
        "workdir", None, "Run directory: checkpoints, metrics, samples.", required=True
    )
    flags.DEFINE_string("coordinator_address", None, "Multi-host: HOST:PORT of process 0.")
    flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
    flags.DEFINE_integer("process_id", None, "Multi-host: index of this process.")
    _DONE = True


def init_distributed(coordinator_address=None, num_processes=None, process_id=None):
    """Starts JAX's multi-controller runtime when asked to (flags or cluster env)."""
    import jax

    cluster = any(int(os.environ.get(v, "1")) > 1 for v in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"))
    if coordinator_address or cluster:
        # Only the CPU backend reads this; it lets CPU processes run collectives (tests).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )


_QUIET = (  # library messages that say nothing actionable to a user of this project
    "custom data configuration",
    "has no dataset_info.json",
    "did not provide metrics",
    "read_only=True",
    "directory is read only",
    "FeatureConnector.dtype",
)


def quiet_logs():
    """Library INFO chatter (Orbax, TFDS) off; warnings and errors stay."""
    import logging

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("absl").addFilter(
        lambda r: not any(text in r.getMessage() for text in _QUIET)
    )


def user_errors():
    """The project's own errors (data, config, workdir, non-finite values) end the
    program with one line; any other exception keeps its traceback."""
    from cosmojax.configlib import ConfigError
    from cosmojax.data.layout import DataError
    from cosmojax.locks import LockedError
    from cosmojax.train.checkpoint import ResumeError
    from cosmojax.train.loop import NonFiniteError

    return _exit_on(DataError, ConfigError, LockedError, ResumeError, NonFiniteError)


@contextlib.contextmanager
def _exit_on(*errors):
    try:
        yield
    except errors as e:
        sys.exit(f"error: {e}")


def train(config, workdir):
    """Builds the task that ``config`` describes and trains it in ``workdir``."""
    from cosmojax import tasks
    from cosmojax.train import loop

    return loop.train_and_evaluate(config, workdir, task=tasks.build(config))


def run(argv):
    del argv
    f = flags.FLAGS
    quiet_logs()
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")  # TF only feeds data; the accelerator is JAX's
    except (ImportError, RuntimeError):
        pass
    init_distributed(f.coordinator_address, f.num_processes, f.process_id)
    with user_errors():
        train(f.config, f.workdir)


def _config_field_error(e: Exception, argv) -> str:
    """One line for an unknown ``--config.*`` field: the field, ml_collections'
    suggestion and the config file that defines the fields."""
    while e.args and isinstance(e.args[0], BaseException):  # AttributeError(KeyError(msg))
        e = e.args[0]
    message = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    lines = message.splitlines() or [""]
    name = lines[0].strip("\"'")
    given = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.")]
    flag = next((g for g in given if g.endswith("." + name)), " ".join(given))
    config = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")), None)
    suggestion = re.search(r'Did you mean "([^"]+)"', message)
    hint = f"; did you mean {suggestion.group(1)!r}?" if suggestion else ""
    config = config or _DEFAULT_CONFIG or "the config file"
    return f"error: unknown config field {name!r} (given: {flag}{hint}); see {config}"


def parse_flags(argv):
    """absl parsing with one-line errors (bad values, unknown config fields)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        sys.exit(f"error: {e}")
    except (AttributeError, KeyError) as e:
        sys.exit(_config_field_error(e, argv))


def main(default_config: str):
    try:  # ml_collections applies --config.* overrides while defining the flag
        _define(default_config)
    except (AttributeError, KeyError) as e:
        sys.exit(_config_field_error(e, sys.argv))
    app.run(run, flags_parser=parse_flags)
