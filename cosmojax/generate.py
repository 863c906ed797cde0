"""Writes full-size generated images, ready to drop into a CIL-layout folder.

    python -m cosmojax.generate --workdir runs/vae --num 100 --size 1000 --out gen/ \\
        [--seed S] [--min_score 2.5 --scorer_workdir runs/scorer] [--method stamps]

Samples the generator in ``--workdir`` (VAE or GAN), upscales each image to
``--size`` (:mod:`cosmojax.upscale`: by default with the sources of the run's
training images, which training wrote into the workdir) and writes 8-bit grayscale PNGs named by
unique 7-digit ids. With ``--min_score``, each candidate is scored at full size
by the scorer in ``--scorer_workdir`` and kept only if its score is at least
that; the acceptance rate is reported.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import jax
import numpy as np

from cosmojax import images as images_lib
from cosmojax import upscale as upscale_lib
from cosmojax.data import layout


def image_ids(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 77])
    return [str(1_000_000 + int(v)) for v in rng.choice(9_000_000, size=n, replace=False)]


def generate(
    generator,
    num: int,
    *,
    size: int = 1000,
    seed: int = 0,
    method: str | None = None,
    scorer=None,
    min_score: float | None = None,
    batch: int = 64,
    max_candidates: int | None = None,
    progress: bool = True,
):
    """Returns ``(images uint8 [num, size, size], their scores or None, candidates
    drawn, candidates that passed)``; candidates come in whole batches, so more
    may pass than are kept."""
    from tqdm import tqdm

    max_candidates = max_candidates or (num if min_score is None else 50 * num)
    library = getattr(generator, "library", None)  # sampling.Generator: the run's sources
    method = method or upscale_lib.default_method(library, size)
    key = jax.random.PRNGKey(seed)
    kept, scores, drawn, passed = [], [], 0, 0
    bar = tqdm(total=num, desc="generating", unit="img", disable=not progress, file=sys.stderr)
    while len(kept) < num and drawn < max_candidates:
        key, sub = jax.random.split(key)
        small = generator.sample_float(sub, batch)
        drawn += len(small)
        passed_here = len(small)
        how = generator.config.data.get("downsample", "area")
        big = np.stack(
            [upscale_lib.upscale(im, size, method, downsample=how, library=library) for im in small]
        )
        if min_score is not None:
            s = scorer.score(big)
            keep = s >= min_score
            big, s = big[keep], s[keep]
            scores.extend(s.tolist())
            passed_here = int(keep.sum())
        passed += passed_here
        take = big[: num - len(kept)]
        kept.extend(take)
        bar.update(len(take))
    bar.close()
    out = np.stack(kept) if kept else np.zeros((0, size, size), np.uint8)
    kept_scores = np.asarray(scores[: len(out)]) if min_score is not None else None
    return out, kept_scores, drawn, passed


def main(argv=None):
    from cosmojax.cli import quiet_logs

    quiet_logs()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True, help="VAE or GAN training workdir")
    p.add_argument("--num", type=int, required=True)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--out", required=True, help="folder for the PNGs (created)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--method",
        default=None,
        choices=upscale_lib.METHODS,
        help="upscaler; default: stamps (the run's source library), else sources",
    )
    p.add_argument("--min_score", type=float, default=None)
    p.add_argument("--scorer_workdir", default=None)
    args = p.parse_args(argv)
    from cosmojax import sampling, scoring

    if (args.min_score is None) != (args.scorer_workdir is None):
        sys.exit("error: --min_score and --scorer_workdir go together")
    out = Path(args.out)
    if out.exists() and any(out.glob("*.png")):
        sys.exit(f"error: {out} already holds PNGs; choose an empty --out")
    try:
        gen = sampling.load(args.workdir)
        scorer = scoring.load(args.scorer_workdir) if args.scorer_workdir else None
    except (FileNotFoundError, ValueError, layout.DataError) as e:
        sys.exit(f"error: {e}")
    imgs, scores, drawn, passed = generate(
        gen,
        args.num,
        size=args.size,
        seed=args.seed,
        method=args.method,
        scorer=scorer,
        min_score=args.min_score,
    )
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    images_lib.save_pngs(imgs, tmp, ids=image_ids(len(imgs), args.seed))
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        f.replace(out / f.name)
    tmp.rmdir()
    how = args.method or upscale_lib.default_method(gen.library, args.size)
    print(
        f"Wrote {len(imgs)} images of {args.size}x{args.size} to {out} "
        f"({gen.kind} step {gen.step}, upscaler {how})"
    )
    if scores is not None:
        rate = passed / max(drawn, 1)
        mean_kept = float(np.mean(scores)) if len(scores) else 0.0
        print(
            f"  {passed} of {drawn} candidates scored >= {args.min_score} "
            f"(acceptance {rate:.1%}); kept {len(imgs)}, mean kept score {mean_kept:.3f}"
        )
        if len(imgs) < args.num:
            print(f"  stopped after {drawn} candidates: fewer than {args.num} passed")


if __name__ == "__main__":
    main()
