"""Shared fixtures: a private COSMOJAX_HOME and tiny data sets.

Every test process of one run (the xdist workers and the training runs the
kill-and-resume tests start) shares one JAX compilation cache, so a step
compiled once (the same tiny model in the same shapes) is not compiled again;
the cache is the run's own and starts empty. They also compile with XLA's
backend optimisations off (``TEST_XLA_FLAGS``).
"""

from __future__ import annotations

import os
import shutil
import tempfile

TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # the first process of the run
    _CACHE = tempfile.mkdtemp(prefix="cosmojax-tests-xla-")  # inherited by the others
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
else:
    _CACHE = None
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# Tiny shapes run in microseconds and compile in seconds: XLA's backend
# optimisations off halves the suite's compile time (the same code is tested;
# every comparison in the suite is between runs under the same flags).
if TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()


def pytest_unconfigure(config):
    if _CACHE:
        shutil.rmtree(_CACHE, ignore_errors=True)


import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cosmojax.data import layout  # noqa: E402  also sets TensorFlow's environment defaults


@pytest.fixture(scope="session", autouse=True)
def cosmojax_home(tmp_path_factory):
    """Prepared data and default data sets go to a temporary home, never ~/.cache."""
    home = tmp_path_factory.mktemp("cosmojax_home")
    os.environ["COSMOJAX_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small synthetic CIL set: 12 labeled, 48 scored, 8 query images of 100x100."""
    from cosmojax.data import synthetic

    out = tmp_path_factory.mktemp("tiny") / "cil"
    synthetic.generate(
        out,
        labeled=12,
        scored=48,
        query=8,
        seed=7,
        size=100,
        query_truth=out.parent / "query_truth.csv",
        workers=1,
        progress=False,
    )
    return out


def write_cil(root, *, n_labeled=3, n_scored=4, n_query=2, size=64, seed=0):
    """Writes a hand-made CIL folder of random sparse images; returns its root."""
    rng = np.random.default_rng(seed)
    ids = iter(range(1_000_000, 9_999_999, 7919))
    for split in layout.SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
    rows = {}
    for split, n in (("labeled", n_labeled), ("scored", n_scored), ("query", n_query)):
        rows[split] = []
        for _ in range(n):
            i = str(next(ids))
            img = (rng.uniform(size=(size, size)) > 0.99).astype(np.uint8) * 200
            layout.write_png(root / split / f"{i}.png", img)
            rows[split].append(i)
    layout.write_csv(root / "labeled.csv", rows["labeled"], [1.0] * n_labeled, digits=1)
    layout.write_csv(root / "scored.csv", rows["scored"], rng.uniform(0, 6, n_scored), digits=10)
    return root
