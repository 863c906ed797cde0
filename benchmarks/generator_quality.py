"""Generators compared on the synthetic benchmark. Prints one JSON table.

    python benchmarks/generator_quality.py --runs runs/bench [--num 300] [--resolution 1000]

Evaluates the trained generators ``vae`` (the paper's MLP VAE), ``vae_conv``,
``gan`` and ``wgan`` found under ``--runs`` with the metrics of
``cosmojax.evaluate`` (reports, plots and metrics.json under
``--runs/eval_<name>``). The real side (statistics, thumbnails, scorer
features) is computed once for all generators. A ``stats_scorer`` run there,
if trained, gives the domain Fréchet distance and the scores. Each row also
has the median component counts above 20 and 50 and the fraction of images
that reach 255, beside the real label-1 medians.

The rows ``real_round_trip_128max_*`` are the floor of every generator that
samples 128x128 block-max images: the real side's own images reduced to that
representation and upscaled back, i.e. a generator that reproduced the
training images exactly, by the ``sources`` (Moffat) upscaler and by
``stamps`` (the sources of the training images a ``configs/vae.py`` run
reads into its library).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from cosmojax.evaluation import real as real_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def evaluate_generators(args) -> dict:
    """Metrics of each generator workdir against one real side, computed once."""
    from cosmojax import evaluate, scoring

    runs = Path(args.runs)
    names = [n for n in args.generators.split(",") if (runs / n / "checkpoints").is_dir()]
    for n in set(args.generators.split(",")) - set(names):
        print(f"skipping {n}: no checkpoints in {runs / n}", file=sys.stderr)
    scorer_dir = Path(args.scorer_workdir or runs / "stats_scorer")
    scorer = scoring.load(scorer_dir) if (scorer_dir / "checkpoints").is_dir() else None
    real = real_lib.load_real("", 2 * args.num)
    half = len(real) // 2
    real_a, real_b = (
        real_lib.at_resolution(x, args.resolution) for x in (real[:half], real[half:])
    )
    side = evaluate.real_side(real_a, real_b, scorer)  # once, for every generator
    table = {}
    if args.round_trip:  # what a perfect model of the representation would score
        res, how = args.round_trip_resolution, args.round_trip_downsample
        library = round_trip_library(res, how)
        for name, lib in (("sources", None), ("stamps", library)):
            small = round_trip(real[half:], res, how, lib)
            gen = real_lib.at_resolution(small, args.resolution)
            m = evaluate.compare(real_a, real_b, gen, scorer, real=side)
            table[f"real_round_trip_{res}{how}_{name}"] = row(
                f"the real side's own images, 1000 -> {res} by {how} -> 1000 "
                f"(cosmojax.upscale, {name})",
                m,
                gen,
            )
    for name in names:
        gen, what = evaluate.load_generated(str(runs / name), args.num, args.resolution)
        m = evaluate.compare(real_a, real_b, gen, scorer, real=side)
        out = runs / f"eval_{name}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps({"generated": what, **m}, indent=1))
        evaluate.plots(m, real_b, gen, out, args.resolution)
        table[name] = row(what, m, gen)
    return table


def round_trip(images, resolution: int, downsample: str, library=None) -> np.ndarray:
    """Real images reduced to a generator's representation and upscaled back, as
    ``cosmojax.generate`` upscales a sample: the floor of any generator of it."""
    from cosmojax import upscale
    from cosmojax.data import resample

    small = np.stack([resample.prepare_image(im, resolution, downsample) for im in images])
    return upscale.full_size(small, downsample=downsample, library=library)


def round_trip_library(resolution: int, downsample: str):
    """The source library a generator of this representation trained with
    ``configs/vae.py``'s data selection would write."""
    from configs import vae
    from cosmojax import upscale
    from cosmojax.data import layout
    from cosmojax.tasks import generated

    config = vae.get_config()
    config.data.resolution, config.data.downsample = resolution, downsample
    paths = generated.library_paths(config)
    return upscale.SourceLibrary.build((layout.read_png(p) for p in paths), resolution, downsample)


def row(what: str, m: dict, gen) -> dict:
    from cosmojax.evaluation import catalog

    sf = m["statistics_frechet"]
    summaries = [catalog.image_summary(im) for im in gen]
    r = {
        "generated": what,
        "statistics_frechet": sf["generated_vs_real"],
        "statistics_frechet_real_vs_real": sf["real_vs_real"],
        "statistics_frechet_ratio": sf["generated_vs_real"] / sf["real_vs_real"],
        "median_components_above_20": float(
            np.median([s["components_above_20"] for s in summaries])
        ),
        "median_components_above_50": float(
            np.median([s["components_above_50"] for s in summaries])
        ),
        "fraction_reaching_255": float(np.mean([s["max"] >= 255 for s in summaries])),
        "memorisation_ratio": m["memorisation"]["ratio"],
        "max_bin_difference": {
            k: v["generated_vs_real"] for k, v in m["per_group_max_bin_difference"].items()
        },
    }
    if "domain_frechet" in m:
        r["domain_frechet"] = m["domain_frechet"]["generated_vs_real"]
        r["domain_frechet_real_vs_real"] = m["domain_frechet"]["real_vs_real"]
        r["mean_score"] = m["scores"]["generated"]["mean"]
        r["mean_score_real"] = m["scores"]["real"]["mean"]
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/bench")
    p.add_argument("--num", type=int, default=300)
    p.add_argument("--resolution", type=int, default=1000)
    p.add_argument("--generators", default="vae,vae_conv,gan,wgan")
    p.add_argument(
        "--round_trip", type=int, default=1, help="1: add the real round-trip row (the floor)"
    )
    p.add_argument("--round_trip_resolution", type=int, default=128)
    p.add_argument("--round_trip_downsample", default="max")
    p.add_argument("--scorer_workdir", default="", help="default: RUNS/stats_scorer if trained")
    args = p.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON table
        table = evaluate_generators(args)
    from cosmojax.evaluation import catalog

    out = {
        "benchmark": "generator_quality",
        "resolution": args.resolution,
        "num": args.num,
        "real_label1": _real_summary(args.num, catalog),
        "generators": table,
    }
    print(json.dumps(out, indent=1))


def _real_summary(num: int, catalog) -> dict:
    """The real label-1 images' median component counts and maximum, and the
    fraction of them that reach 255 (a mean, as in each generator's row)."""
    real = real_lib.load_real("", num, seed=1)
    summaries = [catalog.image_summary(im) for im in real]
    out = {
        f"median_{k}": float(np.median([s[k] for s in summaries]))
        for k in ("components_above_20", "components_above_50", "max")
    }
    out["fraction_reaching_255"] = float(np.mean([s["max"] >= 255 for s in summaries]))
    return out


if __name__ == "__main__":
    main()
