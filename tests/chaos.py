"""Kill-and-restart harness: does a training run survive being killed?

Starts a training script in a subprocess, kills it with SIGKILL at random
moments once training is under way (checkpoints are then being written most
of the time, so some kills land mid-write), restarts it in the same workdir,
and repeats; the last start runs to completion. Some kills can be aimed at
a checkpoint being written. Used by the reliability tests and by
``benchmarks/kill_resume.py``, which share the set-up below (tiny shapes, the
training scripts, the comparison with an uninterrupted run).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Tiny shapes for kill trials; the VAE also needs a small model and more images.
TINY = {
    "data.resolution": 16,
    "batch_size": 8,
    "eval_batch_size": 8,
    "log_every": 5,
    "eval_generated": 8,
}
TASK_OVERRIDES = {
    "scorer": {},
    "vae": {"model.hidden": 32, "model.latent_dim": 8, "data.score_threshold": 1.0},
}


@dataclasses.dataclass
class Tally:
    kills: int = 0
    kills_during_checkpoint_write: int = 0
    restarts: int = 0
    final_returncode: int | None = None
    seconds: float = 0.0


def train_command(script: str, config: str, workdir, overrides: dict | None = None) -> list[str]:
    cmd = [sys.executable, script, f"--config={config}", f"--workdir={workdir}"]
    for k, v in (overrides or {}).items():
        cmd.append(f"--config.{k}={v}")
    return cmd


def trial_overrides(task: str, data_dir, **overrides) -> dict:
    """``--config.*`` overrides of a kill trial: tiny shapes, the task's extras."""
    return {"data.dir": str(data_dir), **TINY, **TASK_OVERRIDES[task], **overrides}


def task_command(task: str, workdir, overrides: dict) -> list[str]:
    """The command line of ``train_<task>.py`` with ``configs/<task>.py``."""
    script, config = REPO / f"train_{task}.py", REPO / "configs" / f"{task}.py"
    return train_command(str(script), str(config), workdir, overrides)


def final_params(workdir) -> tuple[int, list[np.ndarray]]:
    """``(step, parameter arrays)`` of a workdir's latest checkpoint."""
    import jax

    from cosmojax import restore

    _, state, step = restore.load_run(workdir)
    return step, [np.asarray(x) for x in jax.tree.leaves(state.params)]


def same_params(a, b) -> bool:
    """Whether two workdirs end at the same step with bit-identical parameters."""
    (step_a, pa), (step_b, pb) = final_params(a), final_params(b)
    return step_a == step_b and all(np.array_equal(x, y) for x, y in zip(pa, pb, strict=True))


def incomplete_checkpoints(workdir) -> list[str]:
    return [p.name for p in (Path(workdir) / "checkpoints").iterdir() if "tmp" in p.name]


def _writing(ckpt_dir: Path) -> bool:
    return ckpt_dir.is_dir() and any("tmp" in p.name for p in ckpt_dir.iterdir())


def _progress(workdir: Path):
    """What changes as training advances: checkpoint folders and the metrics log."""
    ckpt = workdir / "checkpoints"
    names = frozenset(p.name for p in ckpt.iterdir()) if ckpt.is_dir() else frozenset()
    metrics = workdir / "metrics.jsonl"
    return names, metrics.stat().st_size if metrics.exists() else -1


def _wait_to_kill(proc, workdir, before, delay: float | None, timeout: float) -> None:
    """Waits until the run in ``workdir`` has made progress past ``before``, then
    ``delay`` seconds, or (``delay`` None) until a checkpoint is being written."""
    start = time.perf_counter()
    while _progress(workdir) == before and proc.poll() is None:  # wait past the imports
        if time.perf_counter() - start > timeout:
            proc.kill()
            raise TimeoutError("training made no progress")
        time.sleep(0.01)
    if delay is None:
        deadline = time.perf_counter() + timeout
        while not _writing(Path(workdir) / "checkpoints") and proc.poll() is None:
            if time.perf_counter() > deadline:
                proc.kill()
                raise TimeoutError("no checkpoint write seen")
            time.sleep(0.0005)
        return
    deadline = time.perf_counter() + delay
    while time.perf_counter() < deadline and proc.poll() is None:
        time.sleep(0.002)


def run_with_kills(
    cmd: list[str],
    workdir,
    *,
    kills: int,
    seed: int = 0,
    max_delay: float = 2.0,
    timeout: float = 600.0,
    cwd=None,
    env=None,
    mid_write: int = 0,
) -> Tally:
    """Runs ``cmd`` with ``kills`` SIGKILLs, each at a random moment (up to
    ``max_delay`` seconds) after the restarted run has made visible progress,
    then once more to completion. The first ``mid_write`` kills instead wait
    (up to ``timeout``) for a checkpoint being written and land during it."""
    rng = np.random.default_rng(seed)
    workdir, tally, t0 = Path(workdir), Tally(), time.perf_counter()
    ckpt_dir = workdir / "checkpoints"
    env = {**os.environ, **(env or {})}
    for attempt in range(kills + 1):
        last = attempt == kills
        before = _progress(workdir)
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if last else subprocess.DEVNULL,
            text=True,
        )
        if last:
            _, err = proc.communicate(timeout=timeout)
            tally.final_returncode = proc.returncode
            if proc.returncode != 0:
                raise RuntimeError(f"final run failed ({proc.returncode}): {err[-3000:]}")
            break
        delay = None if attempt < mid_write else rng.uniform(0.0, max_delay)
        _wait_to_kill(proc, workdir, before, delay, timeout)
        if proc.poll() is not None:  # it finished before the kill; the next start resumes
            tally.restarts += 1
            continue
        during_write = _writing(ckpt_dir)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        tally.kills += 1
        tally.kills_during_checkpoint_write += int(during_write)
        tally.restarts += 1
    tally.seconds = time.perf_counter() - t0
    return tally
