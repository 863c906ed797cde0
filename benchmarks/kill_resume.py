"""How many killed runs resume cleanly? Prints one JSON object.

    python benchmarks/kill_resume.py [--kills 20] [--data_dir DIR]

Trains a short scorer and a short VAE (tiny shapes), SIGKILLs each at random
moments ``--kills / 2`` times (checkpoints are written every 2 steps, so
many kills land mid-write), restarts it in the same workdir each time, and
compares the final parameters with an uninterrupted run: "clean" means
bit-identical. Uses a small synthetic data set made for the purpose unless
``--data_dir`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEPS = {"num_steps": 120, "checkpoint_every": 2, "eval_every": 40}


def make_data(tmp: Path) -> str:
    from cosmojax.data import synthetic

    out = tmp / "data"
    synthetic.generate(
        out,
        labeled=12,
        scored=48,
        query=8,
        seed=3,
        size=100,
        progress=False,
        query_truth=tmp / "truth.csv",
    )
    return str(out)


def trial(task: str, data: str, tmp: Path, kills: int, seed: int) -> dict:
    """An uninterrupted run and a run killed ``kills`` times, compared."""
    from tests import chaos

    over = chaos.trial_overrides(task, data, **STEPS)
    ref, run = tmp / f"{task}_ref", tmp / f"{task}_killed"
    chaos.run_with_kills(chaos.task_command(task, ref, over), ref, kills=0, cwd=chaos.REPO)
    tally = chaos.run_with_kills(
        chaos.task_command(task, run, over),
        run,
        kills=kills,
        seed=seed,
        max_delay=1.5,
        cwd=chaos.REPO,
    )
    return {
        **tally.__dict__,
        "final_step": chaos.final_params(run)[0],
        "bit_identical_to_uninterrupted": chaos.same_params(ref, run),
        "incomplete_checkpoints_left": chaos.incomplete_checkpoints(run),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--data_dir", default="")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from cosmojax.console import quiet_logs
    from tests import chaos

    quiet_logs()
    results = {}
    names = list(chaos.TASK_OVERRIDES)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data_dir or make_data(tmp)
        for i, task in enumerate(names):
            n = args.kills // len(names) + (1 if i < args.kills % len(names) else 0)
            results[task] = trial(task, data, tmp, n, args.seed + i)
    kills = sum(r["kills"] for r in results.values())
    clean = sum(r["kills"] for r in results.values() if r["bit_identical_to_uninterrupted"])
    during = sum(r["kills_during_checkpoint_write"] for r in results.values())
    print(
        json.dumps(
            {
                "benchmark": "kill_resume",
                "kills": kills,
                "kills_during_checkpoint_write": during,
                "resumed_cleanly": clean,
                "runs": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
