"""Evaluates generated images against real ones; writes metrics.json and plots.

    python -m cosmojax.evaluate (--workdir RUN | --images FOLDER) --data_dir DATA \\
        --scorer_workdir SDIR --out REPORT_DIR [--num 500] [--resolution 1000]

The generated images: ``--workdir``, a VAE/GAN training workdir (``--num``
images are sampled and upscaled to 1000x1000 first, as ``cosmojax.generate``
writes them), or ``--images``, a folder of PNGs (the first ``--num`` by name).
``--generated FOLDER_OR_WORKDIR``, the old flag, still works.
``--data_dir``: a CIL-layout folder (empty: the default synthetic set;
``--reference`` is its old name); its label-1 images are the real set, split
into two disjoint halves for the real-vs-real scale and for memorisation.
Statistics are computed at ``--resolution`` (1000 = full size). The metrics
are defined in :mod:`cosmojax.evaluation.metrics`.

Writes ``REPORT_DIR/metrics.json`` and ``histogram.png``, ``power_spectrum.png``
(with a ratio panel), ``peak_counts.png``, ``source_counts.png`` and
``samples.png`` (real and generated side by side). From Python,
:func:`evaluate` returns the dict that ``metrics.json`` holds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from cosmojax import configlib
from cosmojax.data import layout, sources
from cosmojax.evaluation import catalog, metrics, statistics
from cosmojax.evaluation.real import at_resolution, load_real  # noqa: F401  (also this module's API)


def _progress(it, desc, total=None):
    from cosmojax import console

    return console.progress(it, desc=desc, total=total, unit="img")


def load_generated(generated, num: int, resolution: int, seed: int = 0) -> tuple:
    """``(uint8 [N, resolution, resolution], description)`` of ``generated``: a
    VAE/GAN workdir, a folder of PNGs (the first ``num`` by name) or uint8
    images ``[N, H, W]`` (the first ``num``).

    A workdir's ``num`` samples (``seed``) are upscaled to the data format
    (1000x1000) first, as ``cosmojax.generate`` writes them, then reduced to
    ``resolution``.

    >>> load_generated(np.zeros((3, 100, 100), np.uint8), 2, 50)[0].shape
    (2, 50, 50)
    """
    if not isinstance(generated, (str, os.PathLike)):
        imgs = np.asarray(generated)
        if imgs.dtype != np.uint8 or imgs.ndim != 3:
            raise ValueError(
                f"generated: expected uint8 images [N, H, W], a folder or a workdir, "
                f"got a {imgs.dtype} array of shape {imgs.shape}"
            )
        return at_resolution(imgs[:num], resolution), f"array of {len(imgs[:num])} images"
    path = Path(generated)
    if (path / "config.json").is_file():
        from cosmojax import sampling

        gen = sampling.load(path)
        imgs = gen.generate(num, size=layout.IMAGE_SIZE, seed=seed, progress=True)
        return at_resolution(imgs, resolution), f"{gen.kind} {path} step {gen.step}"
    paths = sorted(path.glob("*.png"))[:num]
    if not paths:
        raise layout.DataError(f"{path}: neither a training workdir nor a folder of PNGs")
    imgs = [
        at_resolution(layout.read_png(p)[None], resolution)[0]
        for p in _progress(paths, "reading generated")
    ]
    return np.stack(imgs), f"folder {path}"


def evaluate(
    generated,
    data_dir: str | os.PathLike = "",
    *,
    num: int = 500,
    resolution: int = 1000,
    scorer=None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
) -> dict:
    """The metrics of ``generated`` against the real images of ``data_dir``, as
    ``python -m cosmojax.evaluate`` writes them to ``metrics.json``.

    ``generated``: a VAE/GAN workdir, a folder of PNGs or uint8 images
    ``[N, H, W]`` (:func:`load_generated`); ``data_dir``: a CIL-layout folder
    (empty: the default synthetic set), whose ``2 * num`` label-1 images
    (chosen by ``seed``) make two real halves; ``resolution``: where the
    statistics are computed; ``scorer``: None, an object with ``.score`` and
    ``.penultimate`` (:func:`cosmojax.scoring.load`'s) or a scorer workdir (or
    a list of them), for the domain Fréchet distance and the scores. With
    ``out``, also writes ``metrics.json`` and the plots there.

    >>> m = evaluate("runs/vae", num=100, scorer="runs/scorer")  # doctest: +SKIP
    >>> m["statistics_frechet"]  # doctest: +SKIP
    {'generated_vs_real': 3.6, 'real_vs_real': 1.3}
    """
    from cosmojax import scoring

    if isinstance(scorer, (str, os.PathLike, list, tuple)):
        scorer = scoring.load(scorer)
    real = load_real(str(data_dir), 2 * num, seed, resolution)
    gen, what = load_generated(generated, num, resolution, seed)
    half = len(real) // 2
    real_a, real_b = real[:half], real[half:]
    result = {
        "generated": what,
        "reference": str(sources.resolve_data_dir(str(data_dir) or None)),
        "resolution": resolution,
        "num_generated": len(gen),
        "num_real_per_half": half,
        **compare(real_a, real_b, gen, scorer),
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=1))
        plots(result, real_b, gen, out, resolution)
    return result


def real_side(real_a, real_b, scorer=None) -> dict:
    """What ``compare`` needs of the real images, computed once for any number of
    generators: statistics, vectors, memorisation thumbnails, scorer features."""
    sa, sb = (metrics.image_statistics(x) for x in (real_a, real_b))
    side = {
        "stats": (sa, sb),
        "vectors": (metrics.stat_vectors(sa), metrics.stat_vectors(sb)),
        "small": (metrics.small(real_a), metrics.small(real_b)),
    }
    if scorer is not None:
        side["features"] = tuple(metrics.penultimate_features(scorer, x) for x in (real_a, real_b))
        side["real_scores"] = scorer.score(real_b)
    return side


def compare(real_a, real_b, gen, scorer=None, *, real: dict | None = None) -> dict:
    """All metrics for generated images vs real half A, and real half B vs A
    (``real``: :func:`real_side` of the same halves, to reuse across generators)."""
    real = real_side(real_a, real_b, scorer) if real is None else real
    (sa, sb), (va, vb) = real["stats"], real["vectors"]
    sg = metrics.image_statistics(gen)
    vg = metrics.stat_vectors(sg)
    out = {
        "statistics_frechet": {
            "generated_vs_real": metrics.frechet(va, vg),
            "real_vs_real": metrics.frechet(va, vb),
        },
        "per_group_max_bin_difference": {},
    }
    for key in ("histogram", "power_spectrum", "peak_counts", "source_counts"):
        out["per_group_max_bin_difference"][key] = {
            "generated_vs_real": float(metrics.per_bin_difference(sa[key], sg[key]).max()),
            "real_vs_real": float(metrics.per_bin_difference(sa[key], sb[key]).max()),
        }
    (na, nb), ng = real["small"], metrics.small(gen)
    held_out = metrics.mean_nn_distance(nb, na)
    generated = metrics.mean_nn_distance(ng, na)
    out["memorisation"] = {
        "nn_distance_generated_to_train": generated,
        "nn_distance_heldout_to_train": held_out,
        "ratio": generated / max(held_out, 1e-12),
    }
    if scorer is not None:
        (fa, fb), fg = real["features"], metrics.penultimate_features(scorer, gen)
        out["domain_frechet"] = {
            "generated_vs_real": metrics.frechet(fa, fg),
            "real_vs_real": metrics.frechet(fa, fb),
        }
        out["scores"] = {
            "generated": metrics.score_summary(scorer.score(gen)),
            "real": metrics.score_summary(real["real_scores"]),
        }
    out["means"] = {
        "real": {k: sa[k].mean(0).tolist() for k in sa},
        "generated": {k: sg[k].mean(0).tolist() for k in sg},
        "real_b": {k: sb[k].mean(0).tolist() for k in sb},
    }
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def plot_histogram(means: dict, out: Path) -> None:
    edges = statistics.HIST_EDGES
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    centres = np.sqrt(np.maximum(edges[:-1], 0.1) * edges[1:])
    for name, style in (("real", "-"), ("real_b", ":"), ("generated", "--")):
        ax.plot(centres, means[name]["histogram"], style, label=name.replace("real_b", "real (B)"))
    ax.set_xscale("log")
    ax.set(
        xlabel="intensity (counts)", ylabel="mean log10(1 + pixels)", title="Intensity histogram"
    )
    ax.legend()
    _save(fig, out / "histogram.png")


def plot_power_spectrum(means: dict, out: Path, resolution: int) -> None:
    _, k = statistics.spectrum_bins(resolution, resolution)
    fig, (a1, a2) = _pyplot().subplots(
        2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    for name, style in (("real", "-"), ("real_b", ":"), ("generated", "--")):
        a1.plot(k, means[name]["power_spectrum"], style, label=name)
    a1.set(ylabel="log10 P(k)", title="Radially averaged power spectrum")
    a1.legend()
    gen, real = (np.array(means[n]["power_spectrum"]) for n in ("generated", "real"))
    a2.plot(k, 10 ** (gen - real))
    a2.axhline(1.0, color="k", lw=0.5)
    a2.set(xscale="log", yscale="log", xlabel="|k| (cycles per pixel)", ylabel="generated / real")
    _save(fig, out / "power_spectrum.png")


def plot_counts(means: dict, out: Path) -> None:
    for key, labels, fname, title in (
        ("peak_counts", statistics.PEAK_THRESHOLDS, "peak_counts.png", "Peaks above threshold"),
        ("source_counts", catalog.THRESHOLDS, "source_counts.png", "Sources above threshold"),
    ):
        fig, ax = _pyplot().subplots(figsize=(6, 4))
        x = np.arange(len(labels))
        ax.bar(x - 0.2, means["real"][key], 0.4, label="real")
        ax.bar(x + 0.2, means["generated"][key], 0.4, label="generated")
        ax.set_xticks(x, [f"{t:g}" for t in labels])
        ax.set(xlabel="threshold (counts)", ylabel="mean log10(1 + count)", title=title)
        ax.legend()
        _save(fig, out / fname)


def plots(result: dict, real, gen, out: Path, resolution: int):
    """histogram.png, power_spectrum.png, peak_counts.png, source_counts.png and
    samples.png (real above generated) in ``out``."""
    from cosmojax import images as images_lib

    plot_histogram(result["means"], out)
    plot_power_spectrum(result["means"], out, resolution)
    plot_counts(result["means"], out)
    n = min(8, len(real), len(gen))
    thumbs = np.concatenate([at_resolution(real[:n], 250), at_resolution(gen[:n], 250)])
    images_lib.grid(thumbs, n).save(out / "samples.png")


def parser():
    """The command line of ``python -m cosmojax.evaluate``."""
    p = configlib.command_parser("cosmojax.evaluate", __doc__)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--workdir",
        default=None,
        help="VAE or GAN training workdir to sample --num images from (required: this or --images)",
    )
    which.add_argument(
        "--images", default=None, help="folder of generated PNGs (required: this or --workdir)"
    )
    configlib.add_deprecated(which, "--generated", "--workdir or --images", dest="generated")
    p.add_argument(
        "--data_dir",
        default="",
        help="CIL-layout folder whose label-1 images are the real set "
        "(default: empty, the default synthetic set)",
    )
    configlib.add_deprecated(p, "--reference", "--data_dir", dest="data_dir")
    p.add_argument(
        "--scorer_workdir",
        nargs="+",
        default=None,
        help="scorer workdir(s) for the domain Frechet distance and the scores",
    )
    p.add_argument("--out", required=True, help="folder for metrics.json and the plots")
    p.add_argument("--num", type=int, default=500, help="generated images (and real per half)")
    p.add_argument(
        "--resolution", type=int, default=1000, help="image size the statistics are computed at"
    )
    p.add_argument("--seed", type=int, default=0, help="picks the real images and the samples")
    return p


def main(argv=None):
    """``python -m cosmojax.evaluate`` with the flags of ``argv``.

    >>> main(["--workdir", "runs/vae", "--out", "reports/vae"])  # doctest: +SKIP
    vae runs/vae step 600: statistics Frechet 3.620 (real vs real 1.320)
    """
    from cosmojax.console import quiet_logs

    quiet_logs()
    p = parser()
    args = p.parse_args(argv)
    generated = args.workdir or args.images or getattr(args, "generated", None)
    if generated is None:
        p.error("one of the arguments --workdir --images is required")
    from cosmojax import scoring

    try:
        scorer = scoring.load(args.scorer_workdir) if args.scorer_workdir else None
        result = evaluate(
            generated,
            args.data_dir,
            num=args.num,
            resolution=args.resolution,
            scorer=scorer,
            seed=args.seed,
            out=args.out,
        )
    except (layout.DataError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    sf = result["statistics_frechet"]
    print(
        f"{result['generated']}: statistics Frechet {sf['generated_vs_real']:.3f} "
        f"(real vs real {sf['real_vs_real']:.3f})"
    )
    if "domain_frechet" in result:
        df = result["domain_frechet"]
        print(
            f"  domain Frechet {df['generated_vs_real']:.3f} (real vs real "
            f"{df['real_vs_real']:.3f}); mean score {result['scores']['generated']['mean']:.3f}"
        )
    print(f"  memorisation ratio {result['memorisation']['ratio']:.3f}; report in {args.out}")


if __name__ == "__main__":
    main()
