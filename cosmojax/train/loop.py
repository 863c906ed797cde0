"""The one training loop that the scorer, VAE and GAN scripts share.

A task (``cosmojax.tasks.<name>``) supplies the pieces: ``init_state(rng)``,
the per-device ``train_step(state, batch)``, its data, ``evaluate(state)`` and
optional hooks. This loop owns everything else: the mesh, restore-or-init,
batches, the jitted data-parallel step, metrics and progress, evaluation,
checkpoints, the workdir lock, signals and the non-finite guard.

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
        "data_step": int(step),
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


def train_and_evaluate(config, workdir: str | Path, *, task=None) -> TrainResult:
    """Trains ``config.task`` in ``workdir``, resuming from its latest checkpoint."""
    from cosmojax import tasks

    workdir = Path(workdir).absolute()
    is_main = jax.process_index() == 0
    lock = locks.WorkdirLock(workdir) if is_main else contextlib.nullcontext()
    with lock, StopSignals() as stop:
        if is_main and getattr(lock, "stale_owner", None):
            print(
                f"{workdir}: previous run ({lock.stale_owner}) ended without releasing the "
                "lock; taking over.",
                file=sys.stderr,
            )
        ckpt_lib.check_or_write_config(workdir, config, write=False)
        task = task or tasks.build(config)
        if is_main:
            ckpt_lib.check_or_write_config(workdir, config, write=True)
        ckpt = ckpt_lib.Checkpoints(
            workdir, keep=config.keep_checkpoints, best_metric=task.best_metric
        )
        try:
            return _run(task, config, workdir, ckpt, stop, is_main)
        finally:
            ckpt.close()


def _run(task, config, workdir, ckpt, stop, is_main) -> TrainResult:
    mesh = parallel.make_mesh()
    rng = jax.random.PRNGKey(config.seed)
    abstract = ckpt_lib.abstract_like(
        jax.eval_shape(task.init_state, rng), parallel.replicated(mesh)
    )
    latest = ckpt.latest_step()
    if latest is not None:
        state, meta = ckpt.restore(latest, abstract)
        if meta.get("task") != config.task:
            raise ckpt_lib.ResumeError(
                f"{workdir}: checkpoint {latest} is a {meta.get('task')!r} run, not {config.task!r}"
            )
        if is_main:
            print(f"Resuming {config.task} from step {latest} in {workdir}", flush=True)
    else:
        state = jax.jit(task.init_state, out_shardings=parallel.replicated(mesh))(rng)
        state = task.after_init(state)
    start, num_steps = int(parallel.host_local(state.step)), int(config.num_steps)
    writer = metrics_lib.MetricWriter(workdir, enabled=is_main, start_step=start)
    eval_metrics: dict = {}
    if start >= num_steps:
        if is_main:
            print(f"{workdir}: already at step {start} >= num_steps {num_steps}; nothing to do.")
        writer.close()
        return TrainResult(state, start, False, eval_metrics)

    on_device = bool(config.data.get("on_device", False))
    step_fn = parallel.data_parallel(task.train_step, mesh, resident=on_device)
    if on_device:  # the training set lives on the devices; only indices travel
        resident = parallel.resident_data(task.train, mesh)
        gather_step = step_fn
        step_fn = lambda state, batch: gather_step(state, batch, resident)  # noqa: E731
        batches = task.index_batches(start_step=start)
    else:
        batches = task.train_batches(start_step=start, num_steps=num_steps)
    bar = metrics_lib.progress(start, num_steps, task.name, enabled=is_main)
    window = metrics_lib.Window(config.batch_size)
    pending = None

    def drain():
        nonlocal pending
        if pending is not None:
            step, values = pending
            values = parallel.host_local(values)
            _check_finite(step, values, task.finite_metrics, workdir, ckpt)
            window.add(values)
            pending = None

    step = start
    try:
        for step in range(start + 1, num_steps + 1):
            batch = parallel.shard_batch(next(batches), mesh)
            state, values = step_fn(state, batch)
            drain()  # the previous step's metrics: the device stays one step ahead
            pending = (step, values)
            stopping = stop.requested(step, ckpt)  # decided once per step, so it is acted on
            is_eval = step % config.eval_every == 0 or step == num_steps
            is_ckpt = step % config.checkpoint_every == 0 or step == num_steps or stopping
            bar.update(1)
            if step % config.log_every == 0 or is_eval or is_ckpt:
                drain()
                summary = window.summary()
                if summary:
                    summary["learning_rate"] = task.learning_rate(step)
                    writer.write(step, summary)
                    bar.set_postfix_str(metrics_lib.short(summary))
            metrics = None
            if is_eval:
                eval_metrics = task.evaluate(state)
                metrics = eval_metrics
                writer.write(step, eval_metrics)
                if is_main:
                    bar.write(f"step {step}: {metrics_lib.short(eval_metrics)}", file=sys.stderr)
                task.on_eval(state, step, workdir, writer)
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
