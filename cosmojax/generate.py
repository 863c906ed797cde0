"""Writes full-size generated images, ready to drop into a CIL-layout folder.

    python -m cosmojax.generate --workdir runs/vae --num 100 --size 1000 --images gen/ \\
        [--seed S] [--min_score 2.5 --scorer_workdir runs/scorer] [--method stamps]

Samples the generator in ``--workdir`` (VAE or GAN), upscales each image to
``--size`` (:mod:`cosmojax.upscale`; by default, where the source library that
training wrote into the workdir is at the scale of ``--size``, ``learned``,
sources drawn by the run's source model, when it has one, else ``stamps``, the
sources of its training images; at other sizes ``sources``) and writes 8-bit grayscale PNGs
named by unique 7-digit ids into the folder ``--images`` (``--out``, its old
name, still works). With ``--min_score``, each candidate is scored at full
size by the scorer in ``--scorer_workdir`` (several: their ensemble) and kept
only if its score is at least that; the acceptance rate is reported.

From Python, :meth:`cosmojax.sampling.Generator.generate` returns the same
images as an array.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from cosmojax import configlib
from cosmojax import images as images_lib
from cosmojax import upscale as upscale_lib
from cosmojax.data import layout
from cosmojax.sampling import full_size, generate, image_ids  # noqa: F401  (this command's API)


def write(imgs, folder, seed: int) -> list[Path]:
    """Writes ``imgs`` into ``folder`` as this command does: PNGs named
    :func:`image_ids` ``(len(imgs), seed)``, all of them or none (written beside
    it, then moved in); a file of those names that exists is a FileExistsError.
    Returns their paths, in the order of ``imgs``.

    >>> import tempfile
    >>> [p.name for p in write(np.zeros((2, 8, 8), np.uint8), tempfile.mkdtemp(), 0)]
    ['3715151.png', '5685811.png']
    """
    folder = Path(folder)
    paths = [folder / f"{i}.png" for i in image_ids(len(imgs), seed)]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise FileExistsError(f"{existing[0]}: exists; write into a folder without these ids")
    tmp = folder.resolve().with_name(f".{folder.resolve().name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    images_lib.save_pngs(imgs, tmp, ids=[p.stem for p in paths])
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        (tmp / p.name).replace(p)
    tmp.rmdir()
    return paths


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parser():
    """The command line of ``python -m cosmojax.generate``."""
    p = configlib.command_parser("cosmojax.generate", __doc__)
    p.add_argument("--workdir", required=True, help="VAE or GAN training workdir")
    p.add_argument("--num", type=_positive, required=True, help="images to write")
    p.add_argument("--size", type=_positive, default=1000, help="image size in pixels")
    p.add_argument(
        "--images",
        default=None,
        help="folder to write the PNGs to (required; created if missing, holding no PNGs)",
    )
    configlib.add_deprecated(p, "--out", "--images", dest="images")
    p.add_argument("--seed", type=int, default=0, help="the images' PRNG seed and ids")
    p.add_argument(
        "--method",
        default=None,
        choices=upscale_lib.METHODS,
        help="upscaler (default where the run's source library fits --size: learned, sources "
        "drawn by the run's source model (configs/sources.py), if it has one, else stamps; "
        "at other sizes sources)",
    )
    p.add_argument(
        "--min_score",
        type=float,
        default=None,
        help="keep only images the scorer scores at least this (with --scorer_workdir)",
    )
    p.add_argument(
        "--scorer_workdir",
        nargs="+",
        default=None,
        help="scorer training workdir(s) for --min_score; several score as an ensemble",
    )
    return p


def main(argv=None):
    """``python -m cosmojax.generate`` with the flags of ``argv``.

    >>> main(["--workdir", "runs/vae", "--num", "4", "--images", "gen/"])  # doctest: +SKIP
    Wrote 4 images of 1000x1000 to gen (vae step 600, upscaler stamps)
    """
    from cosmojax.console import quiet_logs

    quiet_logs()
    p = parser()
    args = p.parse_args(argv)
    if args.images is None:
        p.error("the following arguments are required: --images")
    from cosmojax import sampling, scoring

    if (args.min_score is None) != (args.scorer_workdir is None):
        sys.exit("error: --min_score and --scorer_workdir go together")
    out = Path(args.images)
    if out.exists() and any(out.glob("*.png")):
        sys.exit(f"error: {out} already holds PNGs; choose an empty --images folder")
    try:
        gen = sampling.load(args.workdir)
        how = sampling.choose_method(gen, args.size, args.method)
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
    write(imgs, out, args.seed)
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
