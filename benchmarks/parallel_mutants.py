"""The bugs the data-parallel equivalence tests exist for, each applied as a
one-line change, and whether the tests catch it (prints JSON).

    python benchmarks/parallel_mutants.py [M1 M3 ...]

Each mutant edits one source file, runs its tests, and restores the file (also
when interrupted). A mutant is killed when a test fails; the largest relative
change gap the failing assertion reports is printed beside it (the tests allow
``tests.helpers.CHANGE_RTOL``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCORER = "tests/test_train_scorer.py::test_data_parallel_matches_one_device"
GAN = "tests/test_gan.py::test_four_devices_match_one"
ON_DEVICE = (
    "tests/test_train_scorer.py::test_on_device_data_gives_the_same_run_as_the_host_pipeline"
)
MUTANTS = [
    (
        "M1",
        "gradients not averaged: each device applies its own shard's",
        "cosmojax/train/step.py",
        "grads, values = parallel.pmean((grads, values))",
        "values = parallel.pmean(values)",
        [SCORER, GAN],
    ),
    (
        "M2",
        "mean over a device's batch, summed across devices",
        "cosmojax/train/parallel.py",
        "return jax.lax.pmean(tree, AXIS)",
        "return jax.lax.psum(tree, AXIS)",
        [SCORER, GAN],
    ),
    (
        "M3",
        "every device draws the same per-example keys (augmentation, latents)",
        "cosmojax/train/parallel.py",
        "return jax.lax.axis_index(AXIS) * local_batch + jnp.arange(local_batch)",
        "return jnp.arange(local_batch)",
        [SCORER, GAN],
    ),
    (
        "M4",
        "the batch split repeats the first device's rows and drops the others",
        "cosmojax/train/parallel.py",
        "k: jax.make_array_from_process_local_data(sharding, np.asarray(v))",
        "k: jax.make_array_from_process_local_data(sharding, np.concatenate("
        "[np.asarray(v)[: len(v) // jax.local_device_count()]] * jax.local_device_count()))",
        [SCORER, GAN],
    ),
    (
        "M5",
        "the generator's BatchNorm statistics per device, not global",
        "cosmojax/models/gan.py",
        "axis_name=self.axis_name if train else None,",
        "axis_name=None,",
        [GAN],
    ),
    (
        "M5d",
        "the discriminator's BatchNorm statistics per device, not global",
        "cosmojax/models/gan.py",
        "                    axis_name=self.axis_name,\n",
        "                    axis_name=None,\n",
        [GAN],
    ),
    (
        "M6",
        "on-device data gathers the next row",
        "cosmojax/train/parallel.py",
        '"image": data["images"][idx].astype(jnp.float32)[..., None],',
        '"image": data["images"][(idx + 1) % data["images"].shape[0]]'
        ".astype(jnp.float32)[..., None],",
        [ON_DEVICE],
    ),
]


def run(test: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    gaps = [float(g) for g in re.findall(r"\]\": ([0-9.e+-]+)", proc.stdout)]
    killed = proc.returncode != 0
    return {"test": test.split("::")[1], "killed": killed, "max_gap": max(gaps or [0])}


def main(argv=None):
    chosen = set(argv if argv is not None else sys.argv[1:])
    rows = []
    for name, what, path, old, new, tests in MUTANTS:
        if chosen and name not in chosen:
            continue
        file = REPO / path
        src = file.read_text()
        if src.count(old) != 1:
            raise SystemExit(f"{path}: the line of mutant {name} is not there once: {old!r}")
        file.write_text(src.replace(old, new))
        try:
            rows += [{"mutant": name, "bug": what, **run(t)} for t in tests]
        finally:
            file.write_text(src)
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    killed = sum(r["killed"] for r in rows)
    print(json.dumps({"runs": rows, "killed": killed, "tried": len(rows)}, indent=1))


if __name__ == "__main__":
    main()
