"""Two CPU processes on localhost train together like one process with the same
global batch (JAX's multi-controller runtime, gloo collectives)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from cosmojax import cli
from tests.helpers import cpu_devices_env, flat_params, tiny_config

REPO = Path(__file__).resolve().parents[1]
WORKER = """
import sys, numpy as np
from cosmojax import cli
cli.init_distributed(sys.argv[1], 2, int(sys.argv[2]))
import jax
from cosmojax.train import parallel
from tests.helpers import tiny_config, flat_params
assert jax.process_count() == 2 and jax.device_count() == 2
r = cli.train(tiny_config("scorer", sys.argv[3], num_steps=6, checkpoint_every=3,
                                        **{"data.augment": True}), sys.argv[4])
np.savez(sys.argv[5], **flat_params(parallel.host_local(r.state.params)))
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
    single = cli.train(
        tiny_config("scorer", tiny_data, num_steps=6, checkpoint_every=3, **{"data.augment": True}),
        tmp_path / "single",
    )
    ref = flat_params(single.state.params)
    for i in range(2):
        got = np.load(tmp_path / f"p{i}.npz")
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["3", "6"]
    assert (tmp_path / "run" / "metrics.jsonl").exists()
