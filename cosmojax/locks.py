"""File locks built on ``fcntl.flock``: the kernel drops them when the holder dies,
so a lock left by a killed process is never mistaken for a live one."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from pathlib import Path


class LockedError(RuntimeError):
    """Another live process holds the lock."""


@contextlib.contextmanager
def blocking_lock(path: str | os.PathLike, *, message: str | None = None, poll: float = 0.5):
    """Holds an exclusive lock on ``path``, waiting for other holders first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if message:
                print(message, file=sys.stderr, flush=True)
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class WorkdirLock:
    """One training run per workdir: ``workdir/.lock`` records pid and host.

    A second run on the same workdir raises :class:`LockedError` naming the
    owner. A lock file left by a process that died is stale: the kernel has
    already released it, so the new run takes it over and says so.
    """

    def __init__(self, workdir: str | os.PathLike):
        self.path = Path(workdir) / ".lock"
        self._file = None
        self.stale_owner: str | None = None

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "unknown process"
            f.close()
            raise LockedError(
                f"{self.path.parent}: another run is using this workdir ({owner}); "
                "wait for it to finish or stop it, or choose another --workdir"
            ) from None
        f.seek(0)
        previous = f.read().strip()
        if previous:
            self.stale_owner = previous
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._file = f
        return self

    def release(self):
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
