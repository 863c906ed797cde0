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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def flat(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--data_dir", default="")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from cosmojax import chaos, restore
    from cosmojax.cli import quiet_logs
    from cosmojax.data import synthetic

    quiet_logs()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data_dir or str(
            synthetic.generate(
                tmp / "data",
                labeled=12,
                scored=48,
                query=8,
                seed=3,
                size=100,
                progress=False,
                query_truth=tmp / "truth.csv",
            )
        )
        common = {
            "data.dir": data,
            "data.resolution": 16,
            "batch_size": 8,
            "eval_batch_size": 8,
            "log_every": 5,
            "num_steps": 120,
            "checkpoint_every": 2,
            "eval_every": 40,
        }
        tasks = {
            "scorer": {},
            "vae": {"model.hidden": 32, "model.latent_dim": 8, "data.score_threshold": 1.0},
        }
        for i, (task, extra) in enumerate(tasks.items()):
            script, config = str(REPO / f"train_{task}.py"), str(REPO / "configs" / f"{task}.py")
            over = {**common, **extra}
            ref = tmp / f"{task}_ref"
            chaos.run_with_kills(
                chaos.train_command(script, config, ref, over), ref, kills=0, cwd=REPO
            )
            run = tmp / f"{task}_killed"
            n = args.kills // len(tasks) + (1 if i < args.kills % len(tasks) else 0)
            tally = chaos.run_with_kills(
                chaos.train_command(script, config, run, over),
                run,
                kills=n,
                seed=args.seed + i,
                max_delay=1.5,
                cwd=REPO,
            )
            _, a, step_a = restore.load_run(ref)
            _, b, step_b = restore.load_run(run)
            identical = step_a == step_b and all(
                np.array_equal(x, y) for x, y in zip(flat(a.params), flat(b.params), strict=True)
            )
            leftovers = [q.name for q in (run / "checkpoints").iterdir() if "tmp" in q.name]
            results[task] = {
                **tally.__dict__,
                "final_step": step_b,
                "bit_identical_to_uninterrupted": identical,
                "incomplete_checkpoints_left": leftovers,
            }
    kills = sum(r["kills"] for r in results.values())
    clean = sum(r["kills"] for r in results.values() if r["bit_identical_to_uninterrupted"])
    print(
        json.dumps(
            {
                "benchmark": "kill_resume",
                "kills": kills,
                "kills_during_checkpoint_write": sum(
                    r["kills_during_checkpoint_write"] for r in results.values()
                ),
                "resumed_cleanly": clean,
                "runs": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
