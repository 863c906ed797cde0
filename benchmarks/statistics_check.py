"""Is every summary statistic of a generator's 1000x1000 images within 25% of the
real images'? Prints one JSON object.

    python benchmarks/statistics_check.py --workdir runs/vae [--num 150] [--method stamps]
        [--step N]

The real images are label-1 images of the data set the run trained on (its
``data.dir``; empty: the default synthetic set): ``2 * num`` of them, in two
halves, so each statistic also has its real-vs-real value. Statistics (per
image, then the median or the fraction over images): the zero fraction and
the fraction of non-zero pixels, components above 0, 5, 20 and 50 counts,
the fraction of images reaching 255, the fraction with a sky above 0 (their
minimum). Each passes when it is within 25% of the real value (relative to
the real value). The power spectrum passes when every bin's mean is within
0.25 real standard deviations of the real mean (``cosmojax.evaluate``'s
per-bin difference); the statistics Fréchet ratio to real-vs-real is given
beside.
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

    rows = [catalog.image_summary(im) for im in images]
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


def compare(gen: dict, real: dict) -> dict:
    return {
        k: {
            "generated": gen[k],
            "real": real[k],
            "relative_difference": abs(gen[k] - real[k]) / max(abs(real[k]), 1e-12),
            "within_25%": abs(gen[k] - real[k]) <= TOLERANCE * abs(real[k]),
        }
        for k in real
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True, help="a trained generator run")
    p.add_argument("--num", type=int, default=150, help="generated images (real: twice as many)")
    p.add_argument("--method", default=None, help="upscaler (default: the run's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", type=int, default=None, help="a kept checkpoint (default: the best)")
    args = p.parse_args(argv)

    from cosmojax import evaluate, sampling
    from cosmojax.evaluation import real as real_lib

    g = sampling.load(args.workdir, step=args.step)
    real = real_lib.load_real(g.config.data.dir, 2 * args.num)
    real_a, real_b = real[: len(real) // 2], real[len(real) // 2 :]
    gen, *_ = sampling.generate(g, args.num, seed=args.seed, method=args.method, progress=False)
    m = evaluate.compare(real_a, real_b, gen)
    sa, sb, sg = summary(real_a), summary(real_b), summary(gen)
    ps = m["per_group_max_bin_difference"]["power_spectrum"]
    sf = m["statistics_frechet"]
    stats = compare(sg, sa)
    out = {
        "workdir": args.workdir,
        "data": g.config.data.dir or "the default synthetic set",
        "step": g.step,
        "num": args.num,
        "statistics": stats,
        "real_vs_real": compare(sb, sa),
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
