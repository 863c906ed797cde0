"""Kill-and-restart harness: does a training run survive being killed?

Starts a training script in a subprocess, kills it with SIGKILL at random
moments once training is under way (checkpoints are then being written most
of the time, so some kills land mid-write), restarts it in the same workdir,
and repeats; the last start runs to completion. Used by the reliability tests
and by ``benchmarks/kill_resume.py``.
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


def _writing(ckpt_dir: Path) -> bool:
    return ckpt_dir.is_dir() and any("tmp" in p.name for p in ckpt_dir.iterdir())


def _progress(workdir: Path):
    """What changes as training advances: checkpoint folders and the metrics log."""
    ckpt = workdir / "checkpoints"
    names = frozenset(p.name for p in ckpt.iterdir()) if ckpt.is_dir() else frozenset()
    metrics = workdir / "metrics.jsonl"
    return names, metrics.stat().st_size if metrics.exists() else -1


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
) -> Tally:
    """Runs ``cmd`` with ``kills`` SIGKILLs, each at a random moment (up to
    ``max_delay`` seconds) after the restarted run has made visible progress,
    then once more to completion."""
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
        start = time.perf_counter()
        while _progress(workdir) == before and proc.poll() is None:  # wait past the imports
            if time.perf_counter() - start > timeout:
                proc.kill()
                raise TimeoutError("training made no progress")
            time.sleep(0.01)
        deadline = time.perf_counter() + rng.uniform(0.0, max_delay)
        while time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.002)
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
