"""Command-line entry for the training scripts: flags, multi-host start, one call.

``python train_<task>.py --config=configs/<task>.py --workdir=DIR`` with
``--config.<field>=value`` overrides (unknown fields and wrong types are
refused before any work starts) and, for multi-host runs, either
``--coordinator_address=HOST:PORT --num_processes=N --process_id=I`` or a
cluster environment JAX recognises (SLURM, Open MPI, TPU pods).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # TF only feeds data here

from absl import app, flags
from ml_collections import config_flags

_DONE = False


def _define(default_config: str):
    global _DONE
    if _DONE:
        return
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


def run(argv):
    from cosmojax.data.layout import DataError
    from cosmojax.locks import LockedError
    from cosmojax.train import checkpoint, loop

    del argv
    f = flags.FLAGS
    quiet_logs()
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")  # TF only feeds data; the accelerator is JAX's
    except (ImportError, RuntimeError):
        pass
    init_distributed(f.coordinator_address, f.num_processes, f.process_id)
    try:
        loop.train_and_evaluate(f.config, f.workdir)
    except (
        DataError,
        LockedError,
        checkpoint.ResumeError,
        loop.NonFiniteError,
        FileExistsError,
        ValueError,
    ) as e:
        sys.exit(f"error: {e}")


def _config_field_error(e: Exception, argv) -> str:
    name = str(e).strip("\"'").splitlines()[0]
    given = " ".join(a.split("=")[0] for a in argv[1:] if a.startswith("--config."))
    return f"error: unknown config field {name!r} (given: {given}); see the config file"


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
