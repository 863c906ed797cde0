"""Generators compared on the synthetic benchmark. Prints one JSON table.

    python benchmarks/generator_quality.py --runs runs/bench [--num 300] [--resolution 1000]
    python benchmarks/generator_quality.py --seeds 0,1,2 --train [--steps vae=600,gan=2500]

With ``--seeds``, each generator config is trained (``--train``, where its
workdir ``RUNS/<name>/seed<s>`` has no checkpoints yet) and evaluated on every
seed, and ``seed_summary`` gives each metric's median and worst seed beside
the rows; ``selection`` re-scores every kept checkpoint of each run by the
fixed-sample statistics Fréchet distance at 64 and at 256 samples and says
whether the chosen step changes.

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


def real_side(args):
    """``(real, half a, half b at args.resolution, scorer or None, real side)``:
    what every generator is compared with, computed once."""
    from cosmojax import evaluate, scoring

    real = real_lib.load_real("", 2 * args.num)
    half = len(real) // 2
    real_a, real_b = (
        real_lib.at_resolution(x, args.resolution) for x in (real[:half], real[half:])
    )
    scorer_dir = Path(args.scorer_workdir or Path(args.runs) / "stats_scorer")
    scorer = scoring.load(scorer_dir) if (scorer_dir / "checkpoints").is_dir() else None
    return real, real_a, real_b, scorer, evaluate.real_side(real_a, real_b, scorer)


def evaluate_generators(args) -> dict:
    """Metrics of each generator workdir against one real side, computed once."""
    from cosmojax import evaluate

    runs = Path(args.runs)
    names = [n for n in args.generators.split(",") if (runs / n / "checkpoints").is_dir()]
    for n in set(args.generators.split(",")) - set(names):
        print(f"skipping {n}: no checkpoints in {runs / n}", file=sys.stderr)
    real, real_a, real_b, scorer, side = real_side(args)  # once, for every generator
    table = {}
    if args.round_trip:  # what a perfect model of the representation would score
        res, how = args.round_trip_resolution, args.round_trip_downsample
        library = round_trip_library(res, how)
        for name, lib in (("sources", None), ("stamps", library)):
            small = round_trip(real[len(real) // 2 :], res, how, lib)
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


# How a metric's worst seed is picked: the largest, the smallest, or the one
# furthest from the real images' value of the same statistic.
WORST = {
    "statistics_frechet_ratio": "max",
    "domain_frechet": "max",
    "memorisation_ratio": "min",
    "median_components_above_20": "real",
    "median_components_above_50": "real",
    "fraction_reaching_255": "real",
}


def seed_summary(rows: list[dict], real: dict) -> dict:
    """Median and worst seed of each metric of :data:`WORST` over ``rows`` (one
    row per seed); ``real``: the real images' values (:func:`_real_summary`)."""
    out = {}
    for key, how in WORST.items():
        values = [r[key] for r in rows if key in r]
        if not values:
            continue
        if how == "real":
            target = real[key]
            worst = max(values, key=lambda v: abs(v - target))
        else:
            worst = max(values) if how == "max" else min(values)
        out[key] = {"median": float(np.median(values)), "worst": float(worst), "seeds": values}
    return out


def seed_workdir(runs: Path, name: str, seed: int) -> Path:
    return Path(runs) / name / f"seed{seed}"


def train_seed(name: str, seed: int, workdir: Path, steps: int | None = None, **overrides):
    """Trains ``configs/<name>.py`` with ``seed`` (and ``steps``) in ``workdir``,
    keeping every evaluated checkpoint (for :func:`selection`)."""
    import importlib

    from cosmojax import cli

    config = importlib.import_module(f"configs.{name}").get_config()
    config.seed = int(seed)
    config.keep_checkpoints = 1000
    if steps:
        config.num_steps = int(steps)
        config.eval_every = config.checkpoint_every = max(int(steps) // 4, 1)
    config.update_from_flattened_dict(overrides)
    return cli.train(config, workdir)


def checkpoint_steps(workdir) -> list[int]:
    ckpts = Path(workdir) / "checkpoints"
    return sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())


def selection(workdir, sizes=(64, 256)) -> dict:
    """Every kept checkpoint of a generator run scored as training scores it (the
    statistics Fréchet distance of a fixed sample to as many real images) with
    each sample size; the step each size would keep, and whether they differ."""
    from cosmojax import sampling
    from cosmojax.tasks import generated

    frechet = {n: {} for n in sizes}
    for step in checkpoint_steps(workdir):
        g = sampling.load(workdir, step=step)
        for n in sizes:
            config = g.config.copy_and_resolve_references()
            config.eval_generated = n
            frechet[n][step] = generated.stats_frechet(config, g.sample_float, g.library)
    chosen = {n: min(v, key=v.get) for n, v in frechet.items() if v}
    return {"frechet": frechet, "chosen": chosen, "changed": len(set(chosen.values())) > 1}


def seeds_table(args) -> dict:
    """Per generator: a row per seed, their summary, and the checkpoint selection."""
    from cosmojax import evaluate

    runs = Path(args.runs)
    steps = dict(kv.split("=") for kv in filter(None, args.steps.split(",")))
    seeds = [int(s) for s in args.seeds.split(",")]
    real, real_a, real_b, scorer, side = real_side(args)
    real_summary = _real_summary(args.num)
    table = {}
    for name in args.generators.split(","):
        rows, picks = {}, {}
        for seed in seeds:
            workdir = seed_workdir(runs, name, seed)
            if args.train and not (workdir / "checkpoints").is_dir():
                train_seed(name, seed, workdir, steps.get(name))
            if not (workdir / "checkpoints").is_dir():
                print(f"skipping {workdir}: no checkpoints", file=sys.stderr)
                continue
            gen, what = evaluate.load_generated(str(workdir), args.num, args.resolution)
            rows[seed] = row(what, evaluate.compare(real_a, real_b, gen, scorer, real=side), gen)
            picks[seed] = selection(workdir)
        if rows:
            summary = seed_summary(list(rows.values()), real_summary)
            changed = sum(p["changed"] for p in picks.values())
            table[name] = {
                "seeds": rows,
                "summary": summary,
                "selection": picks,
                "selection_changed_64_vs_256": f"{changed} of {len(picks)} runs",
            }
    return {"real_label1": real_summary, "generators": table}


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
    p.add_argument("--seeds", default="", help="e.g. 0,1,2: runs RUNS/<name>/seed<s>")
    p.add_argument("--train", action="store_true", help="with --seeds: train missing runs")
    p.add_argument("--steps", default="", help="with --train: e.g. vae=600,gan=2500")
    args = p.parse_args()
    head = {"benchmark": "generator_quality", "resolution": args.resolution, "num": args.num}
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON table
        if args.seeds:
            out = {**head, **seeds_table(args)}
        else:
            table = evaluate_generators(args)
            out = {**head, "real_label1": _real_summary(args.num), "generators": table}
    print(json.dumps(out, indent=1))


def _real_summary(num: int) -> dict:
    """The real label-1 images' median component counts and maximum, and the
    fraction of them that reach 255 (a mean, as in each generator's row)."""
    from cosmojax.evaluation import catalog

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
