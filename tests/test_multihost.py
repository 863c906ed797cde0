"""Two CPU processes on localhost train together like one process with the same
global batch (JAX's multi-controller runtime, gloo collectives)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

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
