"""Two CPU processes on localhost train together like one process with the same
global batch (JAX's multi-controller runtime, gloo collectives); the training
scripts start that runtime where the flags or the environment say so
(``--multihost``), print their config (``--show_config``) and list their flags."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cosmojax import cli
from cosmojax.train import metrics as metrics_lib
from tests.helpers import (
    assert_same_training,
    cpu_devices_env,
    read_run,
    record_run,
    sgd,
    tiny_config,
)

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = sgd(num_steps=6, checkpoint_every=3, **{"data.augment": True})
WORKER = """
import json, sys
from cosmojax import cli
cli.init_distributed(sys.argv[1], 2, int(sys.argv[2]))
import jax
from tests.helpers import record_run, tiny_config
assert jax.process_count() == 2 and jax.device_count() == 2
record_run(tiny_config("scorer", sys.argv[3], **json.loads(sys.argv[6])), sys.argv[4], sys.argv[5])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tiny_data, tmp_path):
    address = f"localhost:{free_port()}"
    env = cpu_devices_env(1)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                address,
                str(i),
                str(tiny_data),
                str(tmp_path / "run"),
                str(tmp_path / f"p{i}.npz"),
                json.dumps(OVERRIDES),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    # Each process holds the whole state; both trained like one process with the
    # same global batch, to rounding (helpers.CHANGE_RTOL: the sums are ordered
    # per process, then across them).
    single = record_run(tiny_config("scorer", tiny_data, **OVERRIDES), tmp_path / "single")
    rows = [r for r in metrics_lib.read_metrics(tmp_path / "run") if "train_loss" in r]
    for i in range(2):
        assert_same_training(single, {**read_run(tmp_path / f"p{i}.npz"), "rows": rows})
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["3", "6"]
    assert (tmp_path / "run" / "metrics.jsonl").exists()


# The environment of each launcher, as the processes it starts see it.
CLUSTER_PREFIXES = ("SLURM_", "OMPI_", "TPU_", "MEGASCALE_", "JAX_COORDINATOR")
SEVERAL = {
    "slurm": ({"SLURM_JOB_ID": "77", "SLURM_NTASKS": "4", "SLURM_PROCID": "1"}, "SLURM_NTASKS=4"),
    "srun step": ({"SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "0"}, "SLURM_STEP_NUM_TASKS=2"),
    "open mpi": ({"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "3"}, "SIZE=8"),
    "tpu pod (gke)": (
        {"TPU_WORKER_HOSTNAMES": "t1v-0,t1v-1,t1v-2,t1v-3", "TPU_WORKER_ID": "2"},
        "TPU_WORKER_HOSTNAMES lists 4 hosts",
    ),
    "tpu pod (addresses)": (
        {"TPU_PROCESS_ADDRESSES": "10.0.0.1:8476,10.0.0.2:8476", "TPU_WORKER_ID": "0"},
        "TPU_PROCESS_ADDRESSES lists 2 hosts",
    ),
    "tpu multislice": (
        {"TPU_WORKER_HOSTNAMES": "t1v-0", "MEGASCALE_NUM_SLICES": "2"},
        "MEGASCALE_NUM_SLICES=2",
    ),
}
ONE = {
    "nothing": {},
    "slurm, one task": {"SLURM_JOB_ID": "77", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"},
    "srun -n1 in a larger allocation": {"SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "1"},
    "open mpi, one rank": {"OMPI_COMM_WORLD_SIZE": "1"},
    "one tpu host": {"TPU_WORKER_HOSTNAMES": "localhost", "TPU_WORKER_ID": "0"},
}


@pytest.fixture
def joins(monkeypatch):
    """No cluster in the environment, and a ``jax.distributed.initialize`` that
    records its arguments (a list, one entry per call) instead of starting anything."""
    import jax

    for name in list(os.environ):
        if name.startswith(CLUSTER_PREFIXES):
            monkeypatch.delenv(name)
    calls = []

    def initialize(*args, **kwargs):
        assert not args, args
        calls.append(kwargs)

    monkeypatch.setattr(jax.distributed, "initialize", initialize)
    collectives = jax.config.jax_cpu_collectives_implementation
    yield calls
    jax.config.update("jax_cpu_collectives_implementation", collectives)


def setenv(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("case", SEVERAL)
def test_a_cluster_of_several_tasks_starts_itself(joins, monkeypatch, case):
    env, where = SEVERAL[case]
    setenv(monkeypatch, env)
    assert where in cli.init_distributed()
    assert joins == [{}]  # JAX reads the addresses and ids from the same environment


@pytest.mark.parametrize("case", ONE)
def test_one_task_runs_alone(joins, monkeypatch, case):
    setenv(monkeypatch, ONE[case])
    assert cli.init_distributed() is None
    assert joins == []


def test_explicit_flags_start_it_with_their_values(joins, monkeypatch):
    setenv(monkeypatch, SEVERAL["slurm"][0])  # the flags win over the environment
    assert cli.init_distributed("node7:1234", 2, 1) == (
        "--coordinator_address=node7:1234 --num_processes=2 --process_id=1"
    )
    assert joins == [{"coordinator_address": "node7:1234", "num_processes": 2, "process_id": 1}]


@pytest.mark.parametrize("case", ["slurm", "open mpi", "tpu pod (gke)"])
def test_off_runs_one_process_inside_a_cluster(joins, monkeypatch, case):
    setenv(monkeypatch, SEVERAL[case][0])
    assert cli.init_distributed(multihost="off") is None
    assert joins == []
    with pytest.raises(SystemExit, match=r"^error: --multihost=off .*--process_id$"):
        cli.init_distributed(process_id=1, multihost="off")


def test_on_starts_it_for_a_single_task_cluster(joins, monkeypatch):
    setenv(monkeypatch, ONE["slurm, one task"])
    assert cli.init_distributed(multihost="on") == "SLURM (SLURM_NTASKS=1)"
    assert joins == [{}]


def test_on_without_a_cluster_is_one_clear_line(joins):
    with pytest.raises(SystemExit) as e:
        cli.init_distributed(multihost="on")
    message = str(e.value.code)
    assert message.startswith("error: --multihost=on: no cluster found (looked for SLURM_NTASKS")
    assert message.endswith("give --coordinator_address, --num_processes and --process_id")
    assert "\n" not in message and joins == []


@pytest.mark.parametrize("case", ["slurm", "open mpi", "tpu pod (gke)", "tpu multislice"])
def test_a_cluster_that_cannot_be_joined_is_one_clear_line(joins, monkeypatch, case):
    import jax

    def initialize(**kwargs):
        raise ValueError("coordinator_address should be defined.\n(more detail)")

    env, where = SEVERAL[case]
    setenv(monkeypatch, env)
    monkeypatch.setattr(jax.distributed, "initialize", initialize)
    with pytest.raises(SystemExit) as e:
        cli.init_distributed()
    message = str(e.value.code)
    assert message.startswith("error: ") and where in message and "\n" not in message
    assert "cannot join the other processes (ValueError: coordinator_address should" in message
    assert message.endswith("or give --multihost=off to run one process")


def test_explicit_flags_that_cannot_join_are_one_clear_line(joins, monkeypatch):
    import jax

    def initialize(**kwargs):
        raise RuntimeError("DEADLINE_EXCEEDED: Barrier timed out.\nTask 1 never connected")

    monkeypatch.setattr(jax.distributed, "initialize", initialize)
    with pytest.raises(SystemExit) as e:
        cli.init_distributed("node7:1234", 2, 0)
    message = str(e.value.code)
    assert message.startswith("error: --coordinator_address=node7:1234 --num_processes=2 ")
    assert "(RuntimeError: DEADLINE_EXCEEDED: Barrier timed out. Task 1" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"])
def test_a_task_count_that_is_no_number_is_named(joins, monkeypatch, name):
    monkeypatch.setenv(name, "4(x2)")
    with pytest.raises(SystemExit, match=rf"^error: {name}='4\(x2\)': expected a number"):
        cli.init_distributed()
    with pytest.raises(SystemExit, match="expected auto, on or off"):
        cli.init_distributed(multihost="yes")


def cloud_tpu_vm(monkeypatch, metadata):
    """This machine as a Cloud TPU VM (TPU chips and libtpu found) whose metadata
    server answers from ``metadata``; returns the keys asked, in order."""
    from jax._src import cloud_tpu_init
    from jax._src.clusters import cloud_tpu_cluster

    asked = []

    def get_metadata(key):
        asked.append(key)
        if isinstance(metadata, Exception):
            raise metadata
        return metadata[key], 200

    monkeypatch.setattr(cloud_tpu_init, "running_in_cloud_tpu_vm", True)
    monkeypatch.setattr(cloud_tpu_cluster, "running_in_cloud_tpu_vm", True)
    monkeypatch.setattr(cloud_tpu_cluster, "get_metadata", get_metadata)
    return asked


def test_a_cloud_tpu_vm_pod_slice_starts_itself(joins, monkeypatch):
    endpoints = "w-0:0:10.0.0.2,w-1:1:10.0.0.3,w-2:2:10.0.0.4,w-3:3:10.0.0.5"
    metadata = {"agent-worker-number": "3", "worker-network-endpoints": endpoints, "tpu-env": ""}
    asked = cloud_tpu_vm(monkeypatch, metadata)
    assert cli.init_distributed() == "Cloud TPU VM (4 workers)"
    assert joins == [{}] and "worker-network-endpoints" in asked


def test_a_single_host_cloud_tpu_vm_runs_alone(joins, monkeypatch):
    metadata = {"agent-worker-number": "0", "worker-network-endpoints": "w-0", "tpu-env": ""}
    cloud_tpu_vm(monkeypatch, metadata)
    assert cli.init_distributed() is None
    assert joins == []


def test_an_unreadable_tpu_metadata_server_is_one_clear_line(joins, monkeypatch):
    cloud_tpu_vm(monkeypatch, ConnectionError("metadata.google.internal: Name not known"))
    with pytest.raises(SystemExit) as e:
        cli.init_distributed()
    message = str(e.value.code)
    assert message.startswith("error: Cloud TPU VM: cannot read its worker list")
    assert "ConnectionError: metadata.google.internal" in message and joins == []


def test_no_metadata_server_is_asked_off_a_tpu_vm(joins, monkeypatch):
    from jax._src import cloud_tpu_init

    asked = cloud_tpu_vm(monkeypatch, {})
    monkeypatch.setattr(cloud_tpu_init, "running_in_cloud_tpu_vm", False)  # as on this machine
    assert cli.init_distributed() is None
    with pytest.raises(SystemExit, match="no cluster found"):
        cli.init_distributed(multihost="on")
    assert asked == [] and joins == []


# The training scripts' command line, as a user runs it.
SCRIPTS = ("train_scorer.py", "train_vae.py", "train_gan.py")


def script(name, *args, cwd, home=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLUSTER_PREFIXES)}
    env["COSMOJAX_HOME"] = str(home or Path(cwd) / "home")
    return subprocess.run(
        [sys.executable, str(REPO / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_lists_the_project_flags(tmp_path, name):
    out = script(name, "--help", cwd=tmp_path).stdout
    for flag in ("--workdir", "--config", "--show_config", "--multihost", "--coordinator_address"):
        assert f"  {flag}" in out or f"  --[no]{flag[2:]}" in out, (flag, out)
    assert "<auto|on|off>" in out


def test_show_config_prints_the_resolved_config_and_touches_nothing(tmp_path):
    for args in ([], ["--workdir", str(tmp_path / "run")]):
        proc = script(
            "train_scorer.py", "--show_config", "--config.num_steps=7", *args, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert "num_steps: 7" in lines and "task: scorer" in lines, proc.stdout
        assert "model:" in lines and "  name: paper_cnn" in lines
        assert list(tmp_path.iterdir()) == []  # no workdir, no data, no COSMOJAX_HOME


def test_show_config_of_another_config_file(tmp_path):
    config = str(REPO / "configs" / "vae.py")
    proc = script("train_vae.py", f"--config={config}", "--show_config", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "task: vae" in proc.stdout.splitlines()


def test_a_missing_workdir_is_one_clear_line(tmp_path):
    proc = script("train_scorer.py", "--config.num_steps=7", cwd=tmp_path)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("--workdir is required (the run directory), unless --show_config")
    )
    assert list(tmp_path.iterdir()) == []


def test_the_multihost_flag_reaches_the_start(tmp_path):
    run, no_data = f"--workdir={tmp_path / 'run'}", f"--config.data.dir={tmp_path / 'none'}"
    proc = script("train_scorer.py", run, no_data, "--multihost=on", cwd=tmp_path)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: --multihost=on: no cluster found")
    ), proc.stderr[-2000:]
    assert not (tmp_path / "run").exists()
