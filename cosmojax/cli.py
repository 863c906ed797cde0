"""Command-line entry for the training scripts: flags, multi-host start, one call.

``python train_<task>.py --config=configs/<task>.py --workdir=DIR`` with
``--config.<field>=value`` overrides (unknown fields and wrong types are
refused before any work starts); ``--show_config`` prints the resolved config
and exits. For several hosts, either
``--coordinator_address=HOST:PORT --num_processes=N --process_id=I`` or a
cluster of more than one task that the environment shows (SLURM, Open MPI, a
Cloud TPU pod slice); ``--multihost=auto|on|off`` decides (see ``init_distributed``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys

from absl import app, flags
from ml_collections import config_flags

import cosmojax.data  # noqa: F401  (TensorFlow's environment defaults, before TF loads)
from cosmojax import configlib
from cosmojax.console import quiet_logs
from cosmojax.training import train  # noqa: F401  (cli.train: the scripts' and tests' entry)

_DONE = False
_DEFAULT_CONFIG = ""


MULTIHOST_MODES = ("auto", "on", "off")
_FLAGS = (  # the training scripts' own flags
    "config",
    "workdir",
    "show_config",
    "multihost",
    "coordinator_address",
    "num_processes",
    "process_id",
)


def _define(default_config: str):
    global _DONE, _DEFAULT_CONFIG
    if _DONE:
        return
    _DEFAULT_CONFIG = default_config
    config_flags.DEFINE_config_file(
        "config", default_config, "Training config file.", lock_config=True
    )
    flags.DEFINE_string(
        "workdir", None, "Run directory: checkpoints, metrics, samples (required to train)."
    )
    flags.DEFINE_bool(
        "show_config", False, "Print the resolved config (after --config.* overrides) and exit."
    )
    flags.DEFINE_enum(
        "multihost",
        "auto",
        MULTIHOST_MODES,
        "Several hosts. auto: start JAX's multi-host runtime when --coordinator_address is "
        "given or the environment shows a cluster of more than one task (SLURM, Open MPI, a "
        "Cloud TPU pod slice); on: always start it (fail if no cluster is found); off: run "
        "one process, even inside a cluster allocation.",
    )
    flags.DEFINE_string("coordinator_address", None, "Multi-host: HOST:PORT of process 0.")
    flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
    flags.DEFINE_integer("process_id", None, "Multi-host: index of this process.")
    for name in _FLAGS:  # listed by --help, not only by --helpfull
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    _DONE = True


_LOOKED_FOR = (
    "SLURM_NTASKS/SLURM_STEP_NUM_TASKS, OMPI_COMM_WORLD_SIZE, "
    "TPU_PROCESS_ADDRESSES/TPU_WORKER_HOSTNAMES, a Cloud TPU VM's worker list"
)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A cluster the environment shows: where it was read, its number of tasks and
    how its processes are started so that JAX can join them."""

    name: str
    tasks: int
    hint: str


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise SystemExit(f"error: {name}={value!r}: expected a number of tasks")
    return int(value)


def _ompi() -> Cluster | None:
    n = _env_int("OMPI_COMM_WORLD_SIZE")
    hint = "start the processes with Open MPI 4's mpirun (JAX reads OMPI_MCA_orte_hnp_uri, "
    hint += "which Open MPI 5 does not set: there give the three flags)"
    return None if n is None else Cluster(f"Open MPI (OMPI_COMM_WORLD_SIZE={n})", n, hint)


def _slurm() -> Cluster | None:
    # A step's own task count wins over the allocation's (srun -n1 inside salloc -n4).
    hint = "start one process per task with srun (JAX reads SLURM_JOB_ID, SLURM_STEP_NODELIST, "
    hint += "SLURM_PROCID, SLURM_LOCALID)"
    for name in ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"):
        n = _env_int(name)
        if n is not None:
            return Cluster(f"SLURM ({name}={n})", n, hint)
    return None


def _tpu_env() -> Cluster | None:
    """A TPU pod slice the environment lists (GKE; the variables JAX reads first)."""
    for name in ("TPU_PROCESS_ADDRESSES", "TPU_WORKER_HOSTNAMES"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h.strip()]
        if hosts:
            slices = _env_int("MEGASCALE_NUM_SLICES") or 1
            where = f"TPU pod slice ({name} lists {len(hosts)} hosts"
            where += f", MEGASCALE_NUM_SLICES={slices})" if slices > 1 else ")"
            hint = "install libtpu on every worker (the tpu extra) and run the same command on each"
            return Cluster(where, len(hosts) * slices, hint)
    return None


def _cloud_tpu_vm() -> Cluster | None:
    """A Cloud TPU VM's worker list, from its metadata server, as JAX reads it. Asked only
    where JAX found TPU chips and libtpu on this machine (no network probe elsewhere)."""
    from jax._src import cloud_tpu_init

    if not getattr(cloud_tpu_init, "running_in_cloud_tpu_vm", False):
        return None
    if "TPU_SKIP_MDS_QUERY" in os.environ:
        return None
    from jax._src.clusters import cloud_tpu_cluster

    tpu = cloud_tpu_cluster.GceTpuCluster
    try:
        n = tpu.get_process_count() if tpu.is_env_present() else None
    except Exception as e:  # noqa: BLE001  any failure of the metadata server
        raise SystemExit(
            f"error: Cloud TPU VM: cannot read its worker list from the metadata server "
            f"({_one_line(e)}); give --multihost=off for one host, or --coordinator_address, "
            "--num_processes and --process_id"
        ) from None
    hint = "run the same command on every worker of the slice"
    return None if n is None else Cluster(f"Cloud TPU VM ({n} workers)", n, hint)


def find_cluster() -> Cluster | None:
    """The cluster the environment shows, in JAX's order of detection; None if none."""
    return _ompi() or _slurm() or _tpu_env() or _cloud_tpu_vm()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    text = text if len(text) <= 400 else text[:397] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def init_distributed(
    coordinator_address=None, num_processes=None, process_id=None, multihost="auto"
):
    """Starts JAX's multi-controller runtime (``jax.distributed.initialize``) when
    ``multihost`` says so: ``auto`` with explicit flags or a cluster of more than one
    task (``find_cluster``), ``on`` always (a clear error if neither is there),
    ``off`` never. Returns where the processes were found, or None for one process.
    A process that cannot join the others ends with one line; it never trains alone."""
    if multihost not in MULTIHOST_MODES:
        raise SystemExit(f"error: --multihost={multihost}: expected auto, on or off")
    given = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    explicit = {k: v for k, v in given.items() if v is not None}
    if multihost == "off":
        if explicit:
            named = ", ".join(f"--{k}" for k in explicit)
            raise SystemExit(f"error: --multihost=off runs one process; drop {named}")
        return None
    cluster = None if explicit else find_cluster()
    if not explicit and multihost == "auto" and (cluster is None or cluster.tasks <= 1):
        return None
    if not explicit and cluster is None:
        raise SystemExit(
            f"error: --multihost=on: no cluster found (looked for {_LOOKED_FOR}); "
            "give --coordinator_address, --num_processes and --process_id"
        )
    if cluster:
        return _join(cluster.name, cluster.hint + "; or give --multihost=off to run one process")
    named = " ".join(f"--{k}={v}" for k, v in explicit.items())
    hint = "every process needs the same --coordinator_address and --num_processes"
    return _join(named, hint + " and its own --process_id", **explicit)


def _join(where: str, hint: str, **explicit) -> str:
    """``jax.distributed.initialize`` (JAX fills what ``explicit`` leaves out from the
    environment); any failure ends the program with one line naming ``where``."""
    import jax

    # Only the CPU backend reads this; it lets CPU processes run collectives (tests).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**explicit)
    except Exception as e:  # noqa: BLE001  whatever stops this process from joining
        raise SystemExit(
            f"error: {where}: cannot join the other processes ({_one_line(e)}); {hint}"
        ) from None
    return where


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


def run(argv):
    del argv
    f = flags.FLAGS
    if f.show_config:
        print(f.config, end="")
        return
    if not f.workdir:
        sys.exit("error: --workdir is required (the run directory), unless --show_config")
    quiet_logs()
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")  # TF only feeds data; the accelerator is JAX's
    except (ImportError, RuntimeError):
        pass
    init_distributed(f.coordinator_address, f.num_processes, f.process_id, f.multihost)
    with user_errors():
        train(f.config, f.workdir)


def _config_field_error(e: Exception, argv) -> str:
    """One line for an unknown ``--config.*`` field: the flag, the closest field
    of the config file (difflib, as :func:`configlib.load` suggests) and the file."""
    path = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")), None)
    path = path or _DEFAULT_CONFIG
    given = [a.split("=")[0][len("--config.") :] for a in argv[1:] if a.startswith("--config.")]
    try:
        config = configlib.load(path)
    except Exception:  # noqa: BLE001 (the file's own error comes first; name the flags)
        return f"error: unknown config field in {' '.join(given) or argv[1:]}: {_one_line(e)}"
    unknown = configlib.unknown_fields(config, given) or given
    name = unknown[0] if unknown else _one_line(e)
    near = configlib.closest_field(config, name)
    hint = f"; did you mean {near!r}?" if near else ""
    return f"error: unknown config field {name!r} (given: --config.{name}{hint}); see {path}"


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
