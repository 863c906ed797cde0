"""Is every summary statistic of a generator's 1000x1000 images within 25% of the
real images'? Prints one JSON object.

    python benchmarks/statistics_check.py --workdir runs/vae [--num 150] [--method stamps]
        [--step N]

The real value of each statistic is taken over every label-1 image of the
data set the run trained on (its ``data.dir``; empty: the default synthetic
set), or the first ``--real`` of them, read one at a time (only the
``2 * num`` that the Fréchet distance compares are kept). Statistics (per
image, then the median or the fraction over images): the zero fraction and
the fraction of non-zero pixels, components above 0, 5, 20 and 50 counts, the
fraction of images reaching 255, the fraction with a sky above 0 (their
minimum). Each passes when it is within 25% of the real value (relative to
the real value).

How far ``num`` real images alone stray from that value is given beside
(``real_sampling_90``: the 90th percentile of the relative difference over
1000 random subsets of ``num`` real images): on the default set a median of
300 images strays up to 11% for the non-zero fraction, so one half of 600
real images is not a reference to measure 25% against (two such halves
differ by 24%).

The power spectrum passes when every bin's mean is within 0.25 real standard
deviations of the real mean (``cosmojax.evaluate``'s per-bin difference), and
the statistics Fréchet ratio to real-vs-real is given beside; both use the
first ``2 * num`` real images, in two halves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOLERANCE = 0.25


def summary(images) -> dict:
    from cosmojax.evaluation import catalog

    return summary_of_rows([catalog.image_summary(im) for im in images])


def summary_of_rows(rows: list[dict]) -> dict:
    """The statistics over images of per-image ``catalog.image_summary`` rows."""
    med = lambda k: float(np.median([r[k] for r in rows]))  # noqa: E731
    out = {
        "zero_fraction": med("zero_fraction"),
        "nonzero_fraction": 1.0 - med("zero_fraction"),
    }
    for t in (0, 5, 20, 50):
        out[f"components_above_{t}"] = med(f"components_above_{t}")
    out["fraction_reaching_255"] = float(np.mean([r["max"] >= 255 for r in rows]))
    out["fraction_sky_above_0"] = float(np.mean([r["background"] > 0 for r in rows]))
    return out


def relative_difference(value, real):
    return abs(value - real) / max(abs(real), 1e-12)


def compare(gen: dict, real: dict, spread: dict | None = None) -> dict:
    out = {}
    for k in real:
        rel = relative_difference(gen[k], real[k])
        out[k] = {
            "generated": gen[k],
            "real": real[k],
            "relative_difference": rel,
            "within_25%": rel <= TOLERANCE,
        }
        if spread is not None:
            out[k]["real_sampling_90"] = spread[k]
    return out


def sampling_spread(
    rows: list[dict], num: int, whole: dict | None = None, draws: int = 1000, seed: int = 0
) -> dict:
    """For each statistic, the 90th percentile of its relative difference
    between ``num`` real images drawn at random (without replacement) and all
    of ``rows`` (``whole``: their summary, if already computed): how far a
    sample of ``num`` real images strays on its own."""
    rng = np.random.default_rng(seed)
    whole = summary_of_rows(rows) if whole is None else whole
    diffs = {k: [] for k in whole}
    for _ in range(draws):
        part = summary_of_rows([rows[i] for i in rng.choice(len(rows), num, replace=False)])
        for k in whole:
            diffs[k].append(relative_difference(part[k], whole[k]))
    return {k: float(np.percentile(v, 90)) for k, v in diffs.items()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True, help="a trained generator run")
    p.add_argument("--num", type=int, default=150, help="generated images (real: twice as many)")
    p.add_argument("--method", default=None, help="upscaler (default: the run's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", type=int, default=None, help="a kept checkpoint (default: the best)")
    p.add_argument(
        "--real", type=int, default=0, help="label-1 images for the real values (0: all)"
    )
    args = p.parse_args(argv)

    from cosmojax import evaluate, sampling
    from cosmojax.evaluation import catalog
    from cosmojax.evaluation import real as real_lib

    g = sampling.load(args.workdir, step=args.step)
    # every real image's statistics, one image at a time; the first 2 * num are
    # kept (the order of load_real(dir, 2 * num)) as the halves for the Fréchet
    rows, kept = [], []
    for im in real_lib.iter_real(g.config.data.dir, args.real or None, progress=False):
        rows.append(catalog.image_summary(im))
        if len(kept) < 2 * args.num:
            kept.append(im)
    if len(rows) < 2 * args.num:
        raise SystemExit(
            f"statistics_check: {len(rows)} real label-1 images, --num {args.num} needs "
            f"{2 * args.num}"
        )
    real_a, real_b = np.stack(kept[: args.num]), np.stack(kept[args.num :])
    del kept
    gen, *_ = sampling.generate(g, args.num, seed=args.seed, method=args.method, progress=False)
    m = evaluate.compare(real_a, real_b, gen)
    s_real, sg = summary_of_rows(rows), summary(gen)
    ps = m["per_group_max_bin_difference"]["power_spectrum"]
    sf = m["statistics_frechet"]
    stats = compare(sg, s_real, sampling_spread(rows, args.num, s_real))
    out = {
        "workdir": args.workdir,
        "data": g.config.data.dir or "the default synthetic set",
        "step": g.step,
        "num": args.num,
        "real_images": len(rows),
        "statistics": stats,
        "real_halves": compare(
            summary_of_rows(rows[args.num : 2 * args.num]), summary_of_rows(rows[: args.num])
        ),
        "power_spectrum_max_bin_difference": {
            **ps,
            "within_0.25_sd": ps["generated_vs_real"] <= TOLERANCE,
        },
        "statistics_frechet_ratio": sf["generated_vs_real"] / sf["real_vs_real"],
        "failing": sorted(k for k, v in stats.items() if not v["within_25%"])
        + ([] if ps["generated_vs_real"] <= TOLERANCE else ["power_spectrum"]),
    }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
