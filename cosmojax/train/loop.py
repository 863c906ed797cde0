"""The one training loop that the scorer, VAE and GAN scripts share.

A task (``cosmojax.tasks.<name>``, built by the entry point and passed in as
``task=``) supplies the pieces: ``init_state(rng)``, the per-device
``train_step(state, batch)``, its data, ``evaluate(state)`` and optional hooks.
This loop owns everything else: the mesh, restore-or-init, batches, the jitted
data-parallel step, metrics and progress, evaluation, checkpoints, the workdir
lock, signals and the non-finite guard.

Determinism: batch ``k`` and the step's PRNG key (``TrainState.step_key``)
depend only on the seed and ``k``; evaluation never changes the state. A run
resumed from a checkpoint therefore continues bit-identically on CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import threading
from pathlib import Path

import jax

from cosmojax import locks
from cosmojax.train import checkpoint as ckpt_lib
from cosmojax.train import metrics as metrics_lib
from cosmojax.train import parallel


class NonFiniteError(RuntimeError):
    """A loss or gradient norm became NaN or infinite."""


@dataclasses.dataclass
class TrainResult:
    state: object
    step: int
    stopped_by_signal: bool
    eval_metrics: dict


class StopSignals:
    """SIGTERM/SIGINT ask the loop to checkpoint and stop; a second SIGINT aborts.

    With several processes, the decision must be the same everywhere: the
    handlers stay JAX's, and the step to stop at comes from the distributed
    runtime's preemption sync point (through Orbax), so all processes save the
    same step and exit together.
    """

    def __init__(self):
        self.received: str | None = None
        self.stopped = False
        self._old = {}
        self._multi = jax.process_count() > 1

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.received == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = name
        print(
            f"\n{name} received: saving a checkpoint after this step, then stopping.",
            file=sys.stderr,
            flush=True,
        )

    def requested(self, step: int, ckpt) -> bool:
        if self._multi:
            hit = ckpt.manager.reached_preemption(step)
            self.received = self.received or ("preemption" if hit else None)
        else:
            hit = self.received is not None
        self.stopped = self.stopped or hit
        return hit

    def __enter__(self):
        if not self._multi and threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def _meta(task, config, step: int) -> dict:
    return {
        "task": config.task,
        "step": int(step),
        "seed": int(config.seed),
        "model": task.describe(),
    }


def _check_finite(step: int, values: dict, keys, workdir, ckpt):
    for key in keys:
        v = values.get(key)
        if v is not None and not math.isfinite(float(v)):
            last = ckpt.latest_step()
            where = (
                f"the last good checkpoint is step {last} in {ckpt.directory}"
                if last is not None
                else "no checkpoint was saved yet"
            )
            raise NonFiniteError(
                f"non-finite {key} ({float(v)}) at step {step}; stopped, {where}. "
                "Lower the learning rate or check the data."
            )


def train_and_evaluate(config, workdir: str | Path, *, task) -> TrainResult:
    """Trains ``task`` (built from ``config`` by the caller, e.g. ``cosmojax.cli.train``)
    in ``workdir``, resuming from its latest checkpoint."""
    workdir = Path(workdir).absolute()
    is_main = jax.process_index() == 0
    task.check_data()  # before anything is written, the workdir's lock included
    lock = locks.WorkdirLock(workdir) if is_main else contextlib.nullcontext()
    with lock, StopSignals() as stop:
        if is_main and getattr(lock, "stale_owner", None):
            print(
                f"{workdir}: previous run ({lock.stale_owner}) ended without releasing the "
                "lock; taking over.",
                file=sys.stderr,
            )
        ckpt_lib.check_or_write_config(workdir, config, write=is_main)
        task.prepare_workdir(workdir, is_main)
        ckpt = ckpt_lib.Checkpoints(
            workdir, keep=config.keep_checkpoints, best_metric=task.best_metric
        )
        try:
            return _run(task, config, workdir, ckpt, stop, is_main)
        finally:
            ckpt.close()


def _restore_or_init(task, config, workdir, ckpt, mesh, is_main):
    """The state of the latest checkpoint, else a fresh (data-initialised) one."""
    rng = jax.random.PRNGKey(config.seed)
    latest = ckpt.latest_step()
    if latest is None:
        state = jax.jit(task.init_state, out_shardings=parallel.replicated(mesh))(rng)
        return task.after_init(state)
    abstract = ckpt_lib.abstract_like(
        jax.eval_shape(task.init_state, rng), parallel.replicated(mesh)
    )
    state, meta = ckpt.restore(latest, abstract)
    if meta.get("task") != config.task:
        raise ckpt_lib.ResumeError(
            f"{workdir}: checkpoint {latest} is a {meta.get('task')!r} run, not {config.task!r}"
        )
    if is_main:
        print(f"Resuming {config.task} from step {latest} in {workdir}", flush=True)
    return state


def _step_and_batches(task, config, mesh, start: int):
    """The jitted data-parallel step and its batches from ``start``: host batches
    through tf.data, or indices into a training set held on the devices."""
    on_device = bool(config.data.get("on_device", False))
    step_fn = parallel.data_parallel(task.train_step, mesh, resident=on_device)
    if not on_device:
        return step_fn, task.train_batches(start_step=start, num_steps=int(config.num_steps))
    resident = parallel.resident_data(task.train, mesh)
    return (
        lambda state, batch: step_fn(state, batch, resident),
        task.index_batches(start_step=start),
    )


class _Metrics:
    """Per-step values, read one step late so the device stays a step ahead, checked
    for non-finite values and averaged over the log window."""

    def __init__(self, task, config, workdir, ckpt):
        self.task, self.workdir, self.ckpt = task, workdir, ckpt
        self.window = metrics_lib.Window(config.batch_size)
        self.pending = None

    def add(self, step, values):
        self.drain()
        self.pending = (step, values)

    def drain(self):
        if self.pending is not None:
            step, values = self.pending
            values = parallel.host_local(values)
            _check_finite(step, values, self.task.finite_metrics, self.workdir, self.ckpt)
            self.window.add(values)
            self.pending = None

    def summary(self, step):
        self.drain()
        summary = self.window.summary()
        if summary:
            summary["learning_rate"] = self.task.learning_rate(step)
        return summary


def _run(task, config, workdir, ckpt, stop, is_main) -> TrainResult:
    mesh = parallel.make_mesh()
    state = _restore_or_init(task, config, workdir, ckpt, mesh, is_main)
    start, num_steps = int(parallel.host_local(state.step)), int(config.num_steps)
    writer = metrics_lib.MetricWriter(workdir, enabled=is_main, start_step=start)
    eval_metrics: dict = {}
    if start >= num_steps:
        if is_main:
            print(f"{workdir}: already at step {start} >= num_steps {num_steps}; nothing to do.")
        writer.close()
        return TrainResult(state, start, False, eval_metrics)
    step_fn, batches = _step_and_batches(task, config, mesh, start)
    bar = metrics_lib.progress(start, num_steps, task.name, enabled=is_main)
    values = _Metrics(task, config, workdir, ckpt)
    step = start
    try:
        for step in range(start + 1, num_steps + 1):
            state, out = step_fn(state, parallel.shard_batch(next(batches), mesh))
            values.add(step, out)  # checks the previous step's values
            stopping = stop.requested(step, ckpt)  # decided once per step, so it is acted on
            is_eval = step % config.eval_every == 0 or step == num_steps
            is_ckpt = step % config.checkpoint_every == 0 or step == num_steps or stopping
            bar.update(1)
            if step % config.log_every == 0 or is_eval or is_ckpt:
                summary = values.summary(step)
                if summary:
                    writer.write(step, summary)
                    bar.set_postfix_str(metrics_lib.short(summary))
            metrics = None
            if is_eval:
                eval_metrics = metrics = _evaluate(task, state, step, workdir, writer, bar, is_main)
            if is_ckpt or is_eval:
                ckpt.save(step, state, _meta(task, config, step), metrics)
            if stopping:
                break
    finally:
        bar.close()
        ckpt.wait()
        writer.close()
    if stop.stopped and step < num_steps:
        if is_main:
            print(
                f"Stopped by {stop.received} at step {step}; checkpoint saved in "
                f"{ckpt.directory}. "
                "Run the same command again to resume.",
                flush=True,
            )
        return TrainResult(state, step, True, eval_metrics)
    task.on_end(state, workdir)
    return TrainResult(state, step, False, eval_metrics)


def _evaluate(task, state, step, workdir, writer, bar, is_main) -> dict:
    eval_metrics = task.evaluate(state)
    writer.write(step, eval_metrics)
    if is_main:
        bar.write(f"step {step}: {metrics_lib.short(eval_metrics)}", file=sys.stderr)
    task.on_eval(state, step, workdir, writer)
    return eval_metrics
