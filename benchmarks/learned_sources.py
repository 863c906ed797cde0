"""Learned sources against stamps: the same generated images upscaled both ways.
Prints one JSON object.

    python train_vae.py --config=configs/sources.py --workdir=runs/vae/source_model \
        --config.model.library_workdir=runs/vae
    python benchmarks/learned_sources.py --workdir runs/vae [--num 100]

For the generator in ``--workdir`` (and its source model in
``<workdir>/source_model``), ``--num`` samples at its resolution are upscaled
to 1000x1000 by ``stamps`` and by ``learned`` (the same samples: the same
seed). Each gets the statistics Fréchet distance to real label-1 images (and
its ratio to real-vs-real, as ``cosmojax.evaluate``), the median components
above 20 and 50 counts, the fraction reaching 255, and the source
memorisation ratio (``evaluation.metrics.source_memorisation``): the
distance of each generated source's shape to the nearest source of the
run's library over the same for sources of real images outside the library.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.generator_quality import row  # noqa: E402
from cosmojax.evaluation import real as real_lib  # noqa: E402


def held_out_images(config, num: int, seed: int = 0) -> np.ndarray:
    """Up to ``num`` images of the generator's selection (label-1 and scored at or
    above its threshold) whose sources are not in its library."""
    from cosmojax.data import layout
    from cosmojax.tasks import generated

    in_library = set(generated.library_paths(config))
    rest = [p for p in generated.selected_images(config)[1] if p not in in_library]
    pick = np.random.default_rng(seed).permutation(len(rest))[:num]
    return np.stack([layout.read_png(rest[i]) for i in pick])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True, help="a generator run with source_model/ inside")
    p.add_argument("--num", type=int, default=100, help="generated images per method")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=1000, help="of the statistics comparison")
    args = p.parse_args(argv)

    from cosmojax import evaluate, sampling
    from cosmojax.evaluation import metrics

    g = sampling.load(args.workdir)
    if g.source_model is None:
        sys.exit(f"error: {args.workdir}/source_model: no source model; train configs/sources.py")
    real = real_lib.load_real(g.config.data.dir, 2 * args.num)
    half = len(real) // 2
    real_a, real_b = (
        real_lib.at_resolution(x, args.resolution) for x in (real[:half], real[half:])
    )
    side = evaluate.real_side(real_a, real_b)
    reference = metrics.SourceReference.build(
        g.library, held_out_images(g.config, args.num, args.seed)
    )
    out = {
        "workdir": args.workdir,
        "generator_step": g.step,
        "source_model_step": g.source_model.step,
        "num": args.num,
    }
    for method in ("stamps", "learned"):
        big, *_ = sampling.generate(g, args.num, seed=args.seed, method=method, progress=False)
        gen = real_lib.at_resolution(big, args.resolution)
        m = evaluate.compare(real_a, real_b, gen, real=side)
        out[method] = row(f"{args.workdir} by {method}", m, big)
        out[method]["source_memorisation"] = metrics.source_memorisation(big, reference)
    out["learned_vs_stamps_frechet"] = (
        out["learned"]["statistics_frechet"] / out["stamps"]["statistics_frechet"]
    )
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
