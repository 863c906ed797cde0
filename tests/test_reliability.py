"""Reliability: kills and preemption, locks, config checks, determinism, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from cosmojax import cli, configlib, locks
from cosmojax.data import layout
from cosmojax.train import checkpoint as ckpt_lib
from cosmojax.train import loop
from cosmojax.train import metrics as metrics_lib
from tests import chaos
from tests.helpers import tiny_config

REPO = chaos.REPO


def cli_overrides(data_dir, **kw):
    return {"data.dir": str(data_dir), **chaos.TINY, **kw}


@pytest.mark.parametrize("task, kills, mid_write, steps", [("scorer", 4, 2, 80), ("vae", 1, 0, 24)])
def test_killed_runs_resume_bit_identically(tiny_data, tmp_path, task, kills, mid_write, steps):
    every = 2 if task == "scorer" else 4  # the VAE's checkpoints are larger
    over = chaos.trial_overrides(
        task, tiny_data, num_steps=steps, checkpoint_every=every, eval_every=steps // 2
    )
    config = tiny_config(task, tiny_data, **{k: v for k, v in over.items() if k != "data.dir"})
    cli.train(config, tmp_path / "ref")
    tally = chaos.run_with_kills(
        chaos.task_command(task, tmp_path / "killed", over),
        tmp_path / "killed",
        kills=kills,
        seed=1,
        max_delay=1.0,
        cwd=REPO,
        mid_write=mid_write,
    )
    assert tally.restarts == kills and tally.kills >= 1
    if mid_write:  # what the README claims: kills land while a checkpoint is written
        assert tally.kills_during_checkpoint_write > 0
    assert chaos.final_params(tmp_path / "killed")[0] == steps
    assert chaos.same_params(tmp_path / "ref", tmp_path / "killed")
    assert not chaos.incomplete_checkpoints(tmp_path / "killed")


def test_sigterm_checkpoints_and_exits_cleanly(tiny_data, tmp_path):
    over = cli_overrides(tiny_data, num_steps=100000, checkpoint_every=100000, eval_every=100000)
    cmd = chaos.train_command(
        str(REPO / "train_scorer.py"), str(REPO / "configs/scorer.py"), tmp_path / "run", over
    )
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    while not (tmp_path / "run" / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "Stopped by SIGTERM at step" in out and "Run the same command again" in out
    step = int(out.split("Stopped by SIGTERM at step ")[1].split(";")[0])
    assert (tmp_path / "run" / "checkpoints" / str(step)).is_dir()


class UnhandledSignal(Exception):
    pass


def signal_at(task, step: int, count: int):
    """Sends this process ``count`` SIGINTs while the batch of loop step ``step`` is made."""
    inner = task.train_batches

    def batches(start_step, num_steps):
        for i, batch in enumerate(inner(start_step, num_steps)):
            if start_step + i + 1 == step:
                for _ in range(count):
                    os.kill(os.getpid(), signal.SIGINT)
            yield batch

    task.train_batches = batches
    return task


def test_sigint_checkpoints_and_stops_and_a_second_sigint_aborts(tiny_data, tmp_path):
    from cosmojax import tasks

    assert threading.current_thread() is threading.main_thread()
    config = tiny_config("scorer", tiny_data, num_steps=20, checkpoint_every=100, eval_every=100)
    workdir = tmp_path / "run"

    def unhandled(signum, frame):  # what a SIGINT does if the loop installs no handler
        raise UnhandledSignal

    previous = signal.signal(signal.SIGINT, unhandled)
    try:
        result = loop.train_and_evaluate(config, workdir, task=signal_at(tasks.build(config), 3, 1))
        assert result.stopped_by_signal and result.step == 3
        assert (workdir / "checkpoints" / "3").is_dir()
        assert signal.getsignal(signal.SIGINT) is unhandled  # handlers restored
        task = signal_at(tasks.build(config), 6, 2)
        with pytest.raises(KeyboardInterrupt):
            loop.train_and_evaluate(config, workdir, task=task)
        assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["3"]
        assert signal.getsignal(signal.SIGINT) is unhandled
    finally:
        signal.signal(signal.SIGINT, previous)


def test_incomplete_checkpoint_is_ignored_and_removed(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, num_steps=4, checkpoint_every=2)
    cli.train(config, tmp_path / "run")
    ckpts = tmp_path / "run" / "checkpoints"
    shutil.copytree(ckpts / "4", ckpts / "9.orbax-checkpoint-tmp")  # cut short
    (ckpts / "9.orbax-checkpoint-tmp" / "state" / "manifest.ocdbt").unlink(missing_ok=True)
    result = cli.train(
        tiny_config("scorer", tiny_data, num_steps=6, checkpoint_every=2), tmp_path / "run"
    )
    assert result.step == 6  # resumed from 4, not from the incomplete 9
    names = sorted(p.name for p in ckpts.iterdir())
    assert "6" in names and all(n.isdigit() for n in names)


def test_second_run_on_a_workdir_is_refused_and_stale_locks_are_taken_over(tiny_data, tmp_path):
    workdir = tmp_path / "run"
    with locks.WorkdirLock(workdir):
        with pytest.raises(locks.LockedError, match=f"pid {os.getpid()}"):
            cli.train(tiny_config("scorer", tiny_data, num_steps=2), workdir)
    (workdir / ".lock").write_text("pid 999999 on some-host\n")  # left by a killed run
    lock = locks.WorkdirLock(workdir).acquire()
    assert lock.stale_owner == "pid 999999 on some-host"
    lock.release()


def test_config_changes_that_alter_the_model_are_refused(tiny_data, tmp_path):
    workdir = tmp_path / "run"
    cli.train(tiny_config("scorer", tiny_data, num_steps=2), workdir)
    with pytest.raises(ckpt_lib.ResumeError, match=r"data.resolution: 16 -> 24"):
        cli.train(tiny_config("scorer", tiny_data, num_steps=4, **{"data.resolution": 24}), workdir)
    with pytest.raises(ckpt_lib.ResumeError, match="holds a 'scorer' run, not 'vae'"):
        cli.train(tiny_config("vae", tiny_data, num_steps=4), workdir)
    ok = cli.train(
        tiny_config("scorer", tiny_data, num_steps=4, eval_every=1, log_every=2), workdir
    )
    assert ok.step == 4


def test_a_checkpoint_without_some_of_the_models_parameters_is_refused(tiny_data, tmp_path):
    """A model whose code gained a layer since its checkpoint was written: the
    partial restore (parameters only) must name what is missing, not hand back
    placeholders for it."""
    import jax

    from cosmojax import restore, tasks

    workdir = tmp_path / "run"
    cli.train(tiny_config("scorer", tiny_data, num_steps=2), workdir)
    task = tasks.build(ckpt_lib.load_config(workdir))
    abstract = jax.eval_shape(task.init_state, jax.random.PRNGKey(0))
    state, step = ckpt_lib.restore_params(workdir, abstract=abstract)
    assert step == 2 and not any(
        isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(state.params)
    )
    grown = abstract.replace(
        params={**abstract.params, "new_head": {"kernel": jax.ShapeDtypeStruct((3, 2), "float32")}}
    )
    with pytest.raises(ckpt_lib.ResumeError, match="it has no params/new_head/kernel"):
        ckpt_lib.restore_params(workdir, abstract=grown)
    assert restore.load_run(workdir)[2] == 2


def test_same_seed_gives_identical_metrics(tiny_data, tmp_path):
    for name in ("a", "b"):
        cli.train(tiny_config("scorer", tiny_data, **{"data.augment": True}), tmp_path / name)
    strip = lambda rows: [
        {k: v for k, v in r.items() if k != "throughput"}  # noqa: E731
        for r in rows
    ]
    a = strip(metrics_lib.read_metrics(tmp_path / "a"))
    b = strip(metrics_lib.read_metrics(tmp_path / "b"))
    assert a == b and len(a) > 5


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--config.no_such_field=1", "unknown config field 'no_such_field'"),
        (
            "--config.batch_sise=1",
            "error: unknown config field 'batch_sise' (given: --config.batch_sise; "
            f"did you mean 'batch_size'?); see {REPO / 'configs' / 'scorer.py'}",
        ),
        (
            "--config.data.dri=x",
            "error: unknown config field 'data.dri' (given: --config.data.dri; "
            "did you mean 'data.dir'?)",
        ),
        ("--config.num_steps=ten", "invalid literal for int()"),
        ("--config.data.resolution=1.5", "--config.data.resolution"),
    ],
)
def test_bad_command_line_fails_before_any_work(tmp_path, flag, message):
    proc = subprocess.run(
        [sys.executable, str(REPO / "train_scorer.py"), f"--workdir={tmp_path / 'run'}", flag],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error")]
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "run").exists()


def test_cli_reports_data_errors_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "train_scorer.py"),
            f"--workdir={tmp_path / 'run'}",
            f"--config.data.dir={tmp_path}/x",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"error: {tmp_path}/x: data folder does not exist"


@pytest.mark.parametrize(
    "error",
    [
        layout.DataError("x: bad data"),
        configlib.ConfigError("optimizer.name: expected 'adam'"),
        locks.LockedError("run: in use"),
        ckpt_lib.ResumeError("run: other model"),
        loop.NonFiniteError("non-finite loss"),
    ],
)
def test_cli_turns_the_projects_errors_into_one_line(error):
    with pytest.raises(SystemExit) as exit_info:
        with cli.user_errors():
            raise error
    assert exit_info.value.code == f"error: {error}"


@pytest.mark.parametrize("error", [ValueError("bug"), KeyError("k"), TypeError("t")])
def test_cli_keeps_the_traceback_of_programming_errors(error):
    with pytest.raises(type(error)):
        with cli.user_errors():
            raise error


def test_cli_reports_a_bad_config_value_in_one_line(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, **{"optimizer.name": "rmsprop"})
    expected = "error: optimizer.name: expected 'adam', 'adamw' or 'sgd', got 'rmsprop'"
    with pytest.raises(SystemExit, match=expected):
        with cli.user_errors():
            cli.train(config, tmp_path / "run")


def test_metrics_log_drops_rows_after_the_restored_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "x": s}) + "\n" for s in (1, 2, 3, 4)))
    metrics_lib.MetricWriter(tmp_path, start_step=2).close()
    assert [r["step"] for r in metrics_lib.read_metrics(path)] == [1, 2]


@pytest.mark.parametrize("task", ["scorer", "vae"])
def test_a_data_set_smaller_than_a_batch_is_refused_before_the_workdir(tiny_data, tmp_path, task):
    config = tiny_config(task, tiny_data, batch_size=64)
    with pytest.raises(SystemExit) as e:
        with cli.user_errors():
            cli.train(config, tmp_path / "run")
    message = str(e.value)
    assert message.startswith("error: batch_size 64 is larger than the ") and "\n" not in message
    n = int(message.split("larger than the ")[1].split()[0])
    assert 0 < n < 64 and "lower --config.batch_size to at most" in message
    assert not (tmp_path / "run").exists()
