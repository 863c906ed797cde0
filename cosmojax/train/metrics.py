"""Metrics: TensorBoard event files and ``metrics.jsonl`` in the workdir, and the
console progress bar. Only process 0 writes.

``metrics.jsonl`` holds one JSON object per logged step (``{"step": ..,
"train_loss": .., ...}``), the machine-readable twin of the event files; on
resume, rows after the restored step are dropped so the file reads as one run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from cosmojax import console

METRICS_FILE = "metrics.jsonl"


class MetricWriter:
    def __init__(self, workdir: str | os.PathLike, *, enabled: bool = True, start_step: int = 0):
        self.enabled = enabled
        self.path = Path(workdir) / METRICS_FILE
        self._tb = None
        if not enabled:
            return
        if self.path.exists():  # drop rows newer than the checkpoint we resumed from
            rows = [r for r in read_metrics(self.path) if r["step"] <= start_step]
            from cosmojax.files import atomic_write_text

            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))
        from flax.metrics import tensorboard

        self._tb = tensorboard.SummaryWriter(str(workdir))

    def write(self, step: int, scalars: dict):
        if not self.enabled or not scalars:
            return
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        for k, v in scalars.items():
            self._tb.scalar(k, float(v), int(step))

    def image(self, tag: str, image: np.ndarray, step: int):
        """``image`` uint8 ``[H, W]`` or ``[H, W, C]``."""
        if self.enabled:
            img = image[..., None] if image.ndim == 2 else image
            self._tb.image(tag, img, int(step))

    def close(self):
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None


def read_metrics(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Window:
    """Means of the step metrics since the last summary, and images per second.

    Throughput is measured between metric arrivals (steps completing), from
    the end of the previous window; the first window starts at the first
    step's completion, so compilation time is not counted.
    """

    def __init__(self, global_batch: int):
        self.global_batch = global_batch
        self._values: list[dict] = []
        self._t0: float | None = None
        self._timed = 0  # steps completed after _t0

    def add(self, values: dict):
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        else:
            self._timed += 1
        self._last = now
        self._values.append(values)

    def summary(self) -> dict:
        if not self._values:
            return {}
        keys = self._values[0].keys()
        out = {f"train_{k}": float(np.mean([v[k] for v in self._values])) for k in keys}
        if self._timed:
            out["throughput"] = self._timed * self.global_batch / max(self._last - self._t0, 1e-9)
        self._values, self._t0, self._timed = [], self._last, 0
        return out


def short(metrics: dict) -> str:
    return " ".join(
        f"{k.removeprefix('train_')}={v:.4g}" for k, v in metrics.items() if k != "learning_rate"
    )


def progress(start: int, total: int, desc: str, *, enabled: bool = True):
    """The loop's step counter: a bar on a terminal, plain lines in a log file."""
    return console.progress(total=total, initial=start, desc=desc, unit="step", enabled=enabled)
