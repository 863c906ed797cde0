"""Generators compared on the synthetic benchmark. Prints one JSON table.

    python benchmarks/generator_quality.py --runs runs/bench [--num 300] [--resolution 1000]

Evaluates the trained generators ``vae`` (the paper's MLP VAE), ``vae_conv``
and ``gan`` found under ``--runs`` with ``python -m cosmojax.evaluate``
(reports, plots and metrics.json under ``--runs/eval_<name>``), using the
``stats_scorer`` run there for the domain Fréchet distance and the scores.
Target: the paper VAE's statistics-Fréchet distance at most 3x the
real-vs-real distance, and below the DCGAN's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/bench")
    p.add_argument("--num", type=int, default=300)
    p.add_argument("--resolution", type=int, default=1000)
    p.add_argument("--generators", default="vae,vae_conv,gan")
    args = p.parse_args()
    from cosmojax import evaluate

    runs = Path(args.runs)
    table = {}
    for name in args.generators.split(","):
        workdir = runs / name
        if not (workdir / "checkpoints").is_dir():
            print(f"skipping {name}: no checkpoints in {workdir}", file=sys.stderr)
            continue
        out = runs / f"eval_{name}"
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON table
            evaluate.main(
                [
                    "--generated",
                    str(workdir),
                    "--scorer_workdir",
                    str(runs / "stats_scorer"),
                    "--out",
                    str(out),
                    "--num",
                    str(args.num),
                    "--resolution",
                    str(args.resolution),
                ]
            )
        m = json.loads((out / "metrics.json").read_text())
        table[name] = {
            "generated": m["generated"],
            "statistics_frechet": m["statistics_frechet"]["generated_vs_real"],
            "statistics_frechet_real_vs_real": m["statistics_frechet"]["real_vs_real"],
            "statistics_frechet_ratio": m["statistics_frechet"]["generated_vs_real"]
            / m["statistics_frechet"]["real_vs_real"],
            "domain_frechet": m["domain_frechet"]["generated_vs_real"],
            "domain_frechet_real_vs_real": m["domain_frechet"]["real_vs_real"],
            "mean_score": m["scores"]["generated"]["mean"],
            "mean_score_real": m["scores"]["real"]["mean"],
            "frac_score_ge_2.5": m["scores"]["generated"]["frac_ge_2.5"],
            "memorisation_ratio": m["memorisation"]["ratio"],
            "max_bin_difference": {
                k: v["generated_vs_real"] for k, v in m["per_group_max_bin_difference"].items()
            },
        }
    out = {
        "benchmark": "generator_quality",
        "resolution": args.resolution,
        "num": args.num,
        "generators": table,
    }
    if "vae" in table:
        out["vae_within_3x_real"] = table["vae"]["statistics_frechet_ratio"] <= 3
        if "gan" in table:
            out["vae_below_gan"] = (
                table["vae"]["statistics_frechet"] < table["gan"]["statistics_frechet"]
            )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
