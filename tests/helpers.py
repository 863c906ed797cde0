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
