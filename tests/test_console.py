"""Progress in log files: plain lines at an interval, not progress-bar redraws."""

from __future__ import annotations

import io

from cosmojax import cli, console
from tests.helpers import tiny_config


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_line_progress_writes_a_line_per_interval_with_rate_and_time_left():
    clock, out = Clock(), io.StringIO()
    bar = console.LineProgress(
        total=100, initial=10, desc="vae", unit="step", file=out, interval=30, clock=clock
    )
    for _ in range(40):  # 40 steps over 20 s: 2 step/s, no line yet
        clock.t += 0.5
        bar.update(1)
    assert out.getvalue() == ""
    bar.set_postfix_str("loss=1.5")
    for _ in range(20):  # past 30 s
        clock.t += 0.5
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert lines == ["vae: 70/100 step 2 step/s eta 0m15s loss=1.5"]
    clock.t += 1.0
    bar.update(1)
    bar.close()
    bar.close()  # a second close adds nothing
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("vae: 71/100 step ")
    assert "\r" not in out.getvalue()


def test_line_progress_iterates_and_closes_with_a_final_line():
    clock, out = Clock(), io.StringIO()

    def items():
        for i in range(4):
            clock.t += 1.0
            yield i

    bar = console.LineProgress(items(), total=4, desc="scoring", unit="img", file=out, clock=clock)
    assert list(bar) == [0, 1, 2, 3]
    assert out.getvalue() == "scoring: 4/4 img 1 img/s eta 0m00s\n"


def test_a_training_run_logged_to_a_file_writes_plain_lines(tiny_data, tmp_path, capfd):
    cli.train(tiny_config("scorer", tiny_data, num_steps=4, eval_every=4), tmp_path / "run")
    err = capfd.readouterr().err
    assert "\r" not in err
    assert any(line.startswith("scorer: 4/4 step ") for line in err.splitlines()), err[-2000:]
