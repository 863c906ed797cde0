"""Console output of the commands: library chatter off, errors and warnings kept."""

from __future__ import annotations

import sys
import time

_QUIET = (  # library messages that say nothing actionable to a user of this project
    "custom data configuration",
    "has no dataset_info.json",
    "did not provide metrics",
    "read_only=True",
    "directory is read only",
    "FeatureConnector.dtype",
)


def quiet_logs():
    """Library INFO chatter (Orbax, TFDS) off; warnings and errors stay."""
    import logging

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("absl").addFilter(
        lambda r: not any(text in r.getMessage() for text in _QUIET)
    )


class LineProgress:
    """A progress report for logs: a plain line every ``interval`` seconds (and at
    the end) with the count, the rate, the time left and the last postfix, in
    place of a progress bar's carriage-return redraws. Has the part of tqdm's
    interface the project uses (iteration, ``update``, ``set_postfix_str``,
    ``write``, ``close``)."""

    def __init__(
        self,
        iterable=None,
        *,
        total=None,
        initial=0,
        desc="",
        unit="it",
        file=None,
        interval: float = 30.0,
        clock=time.monotonic,
    ):
        self.iterable, self.total, self.n = iterable, total, initial
        self.desc, self.unit, self.file = desc, unit, file or sys.stderr
        self.interval, self.clock = interval, clock
        self.postfix = ""
        self._start_n, self._start = initial, clock()
        self._last = self._start
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            self.total = len(iterable)

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def line(self) -> str:
        elapsed = max(self.clock() - self._start, 1e-9)
        rate = (self.n - self._start_n) / elapsed
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        eta = ""
        if self.total and rate > 0:
            eta = f" eta {_duration((self.total - self.n) / rate)}"
        text = f"{self.desc}: {done} {self.unit} {rate:.3g} {self.unit}/s{eta}"
        return f"{text} {self.postfix}".rstrip()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.write(self.line())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def write(self, text: str, file=None) -> None:
        print(text, file=file or self.file, flush=True)

    def close(self) -> None:
        if self.n != self._start_n and self._last != self.clock():
            self._last = self.clock()
            self.write(self.line())
        self._start_n = self.n  # a second close writes nothing


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def progress(iterable=None, *, total=None, initial=0, desc="", unit="it", enabled=True):
    """A tqdm bar on a terminal; :class:`LineProgress` lines when stderr is a file
    (a cluster job's log); nothing when not ``enabled``."""
    if not enabled:
        from tqdm import tqdm

        return tqdm(iterable, total=total, initial=initial, disable=True)
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(
            iterable,
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=1.0,
        )
    return LineProgress(iterable, total=total, initial=initial, desc=desc, unit=unit)
