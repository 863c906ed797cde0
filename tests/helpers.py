"""Tiny configs: the default config of a task with a few fields shrunk."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import jax
import numpy as np


def tiny_config(task: str, data_dir, **overrides):
    config = importlib.import_module(f"configs.{task}").get_config()
    config.data.dir = str(data_dir)
    config.data.resolution = 16
    config.batch_size = 8
    config.eval_batch_size = 8
    config.num_steps = 6
    config.eval_every = 3
    config.checkpoint_every = 3
    config.log_every = 1
    config.eval_generated = 8
    config.update_from_flattened_dict(overrides)
    return config


def tiny_scorer(data_dir, **overrides):
    """The paper scorer's tiny config (a factory for :func:`train_on_devices`)."""
    return tiny_config("scorer", data_dir, **overrides)


def flat_params(tree) -> dict[str, np.ndarray]:
    return {
        jax.tree_util.keystr(k): np.asarray(v)
        for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def cpu_devices_env(devices: int) -> dict:
    """This process's environment for a child on ``devices`` virtual CPU devices
    (keeping the suite's other XLA flags)."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    flags.append(f"--xla_force_host_platform_device_count={devices}")
    return {**os.environ, "XLA_FLAGS": " ".join(flags), "JAX_PLATFORMS": "cpu"}


def run_on_cpu_devices(script: str, args, devices: int) -> subprocess.CompletedProcess:
    """Runs ``python -c script *args`` on ``devices`` virtual CPU devices."""
    env = cpu_devices_env(devices)
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_stops_on_nan_images(config, workdir, metric: str):
    """Training on images that are all NaN stops at step 1, naming ``metric``."""
    import pytest

    from cosmojax import tasks
    from cosmojax.train import loop

    task = tasks.build(config)
    train, val = task.splits
    task.splits = (type(train)(train.ids, train.images * np.nan, train.targets), val)
    with pytest.raises(loop.NonFiniteError, match=rf"non-finite {metric} \(nan\) at step 1"):
        loop.train_and_evaluate(config, workdir, task=task)


# Runs that sum the same numbers in another order (1 against 4 devices, 1 against
# 2 processes, the host pipeline against on-device data) are compared through
# the parameters' change, never bit for bit. Bound: a float32 sum of K terms
# reordered moves by at most (K - 1) u sum|terms| (u = 2^-24). The longest sums
# here are a convolution kernel's gradient over the batch and the positions,
# K <= 8 x 16 x 16 = 2048 at the tiny configs' batch 8 and resolution 16:
# 1.2e-4 of the summed magnitudes. Trained with plain SGD (optimizer.name
# 'sgd'), a change is the learning rate times the sum of the step's gradients,
# so it inherits that bound relative to its own size; Adam would not (it divides
# each coordinate by its own running scale, and a near-zero gradient's last bit
# becomes a step of the size of the learning rate). CHANGE_RTOL is 8x the worst
# case, to cover terms that cancel; differences seen are ~1e-6, and each bug
# these tests exist for moves some array by more than 1e-2 (the tally is in
# benchmarks/RESULTS.md).
CHANGE_RTOL = 1e-3

COMPARE_RUN = """
import json, sys
import jax
from tests.helpers import load_factory, record_run

config = load_factory(sys.argv[1])(sys.argv[2], **json.loads(sys.argv[3]))
run = record_run(config, sys.argv[4])
print(json.dumps({"devices": jax.device_count(), "rows": run["rows"]}))
"""


def record_run(config, workdir, out=None) -> dict:
    """Trains ``config`` in ``workdir``; returns the initial and final parameters
    and model state (flat, numpy) and the per-step metric rows, and writes the
    arrays to ``out`` (default ``workdir.npz``) for a parent process."""
    from cosmojax import cli, tasks
    from cosmojax.train import metrics as metrics_lib
    from cosmojax.train import parallel

    init = jax.jit(tasks.build(config).init_state)(jax.random.PRNGKey(config.seed))
    state = parallel.host_local(cli.train(config, workdir).state)
    run = {
        "init": flat_params({"p": init.params, "s": init.model_state}),
        "final": flat_params({"p": state.params, "s": state.model_state}),
        "rows": [
            r for r in metrics_lib.read_metrics(workdir) if any(k.startswith("train_") for k in r)
        ],
    }
    arrays = {f"init{k}": v for k, v in run["init"].items()}
    arrays.update({f"final{k}": v for k, v in run["final"].items()})
    np.savez(out or f"{workdir}.npz", **arrays)
    return run


def load_factory(name: str):
    """``"module:function"`` -> the function (a config factory of the tests)."""
    module, fn = name.split(":")
    return getattr(importlib.import_module(module), fn)


def sgd(**overrides) -> dict:
    """Config overrides for plain SGD (see CHANGE_RTOL), for runs to be compared."""
    return {"optimizer.name": "sgd", "optimizer.learning_rate": 0.05, "log_every": 1, **overrides}


def train_on_devices(factory: str, data_dir, overrides: dict, workdir, devices: int) -> dict:
    """Trains ``factory(data_dir, **overrides)`` on ``devices`` virtual CPU devices in
    a child process; returns its initial and final parameters and model state, and
    its per-step metric rows."""
    import json

    proc = run_on_cpu_devices(
        COMPARE_RUN, [factory, data_dir, json.dumps(overrides), workdir], devices
    )
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["devices"] == devices
    return {**read_run(f"{workdir}.npz"), "rows": info["rows"]}


def read_run(path) -> dict:
    """The arrays :func:`record_run` wrote (no metric rows)."""
    with np.load(path) as f:
        arrays = dict(f)
    return {
        "init": {k[4:]: v for k, v in arrays.items() if k.startswith("init")},
        "final": {k[5:]: v for k, v in arrays.items() if k.startswith("final")},
    }


def change_gaps(ref: dict, got: dict) -> dict[str, float]:
    """Per array: |change(got) - change(ref)| / |change(ref)| (L2 norms), where a
    change is the final array less the initial one."""
    gaps = {}
    for k, init in ref["init"].items():
        want = ref["final"][k].astype(np.float64) - init
        have = got["final"][k].astype(np.float64) - got["init"][k]
        scale = np.linalg.norm(want)
        if scale > 0:
            gaps[k] = float(np.linalg.norm(have - want) / scale)
    return gaps


def assert_same_training(ref: dict, got: dict, metrics=("train_loss",)):
    """``got`` trained like ``ref``: the same start bit for bit (initialisation has
    no sums), each parameter's change within CHANGE_RTOL of ``ref``'s, and each
    step's ``metrics`` within the same relative bound."""
    for k, v in ref["init"].items():
        np.testing.assert_array_equal(got["init"][k], v, err_msg=f"initial {k}")
    gaps = change_gaps(ref, got)
    assert gaps and max(gaps.values()) <= CHANGE_RTOL, {
        k: g for k, g in gaps.items() if g > CHANGE_RTOL
    }
    assert len(got["rows"]) == len(ref["rows"]) > 0
    for a, b in zip(ref["rows"], got["rows"], strict=True):
        assert a["step"] == b["step"]
        for m in metrics:
            np.testing.assert_allclose(
                b[m], a[m], rtol=CHANGE_RTOL, err_msg=f"{m} step {a['step']}"
            )
