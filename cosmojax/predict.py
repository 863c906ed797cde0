"""Scores a folder of PNG images and writes a Kaggle submission CSV.

    python -m cosmojax.predict --workdir runs/scorer --out predictions.csv \\
        [--images FOLDER] [--truth truth.csv] [--step N]
    python -m cosmojax.predict --workdir runs/s0 runs/s1 runs/s2 [--reduce median] ...

Several workdirs score as an ensemble: each member at its own resolution, the
scores averaged (``--reduce mean``, the default) or their median taken.

Without ``--images`` it scores the ``query/`` folder of the data set the run was
trained on (and, for the default synthetic set, reports the MAE against its
query truth). Writes ``Id,Predicted`` (Id = file stem), clipped to [0, 8], and
prints the count, the mean and a histogram; with ``--truth`` (an ``Id,Actual``
CSV, e.g. the synthetic query truth) also the MAE.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cosmojax.data import layout


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise layout.DataError(f"{folder}: image folder does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise layout.DataError(f"{folder}: no .png images")
    return paths


def predict_folder(scorer, folder: Path, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """Ids and scores of the PNGs in ``folder``, for a :class:`~cosmojax.scoring.Scorer`
    or an :class:`~cosmojax.scoring.Ensemble` (each PNG is decoded once)."""
    from tqdm import tqdm

    paths = list_images(folder)
    ids = [layout.check_id(p.stem, str(p)) for p in paths]
    from cosmojax import scoring

    members = getattr(scorer, "members", [scorer])
    by_res = {m.resolution: m for m in members}  # one prepared copy per resolution
    prepared = {r: [] for r in by_res}
    readers = [m for m in members if m.with_stats]
    with_stats = bool(readers)
    stats = []
    conversions = layout.ConversionLog()
    for p in tqdm(paths, desc="reading", unit="img", disable=not progress, file=sys.stderr):
        image = layout.read_png(p, conversions)
        for r, m in by_res.items():
            prepared[r].append(m.prepare(image))
        if with_stats:  # once per image, whatever the members' resolutions
            stats.append(scoring.full_resolution_stats([image], readers[0].stats_image_size)[0])
    conversions.log_summary()
    stats = np.stack(stats) if with_stats else None
    scores = [m.score_prepared(np.stack(prepared[m.resolution]), stats) for m in members]
    return ids, scores[0] if len(members) == 1 else scorer.combine(scores)


def histogram_line(pred: np.ndarray) -> str:
    counts, edges = np.histogram(pred, bins=np.arange(0, 8.5, 1.0))
    return "  ".join(
        f"[{a:g},{b:g}):{c}" for a, b, c in zip(edges, edges[1:], counts, strict=False) if c
    )


def main(argv=None):
    from cosmojax.cli import quiet_logs

    quiet_logs()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--workdir",
        required=True,
        nargs="+",
        help="scorer training workdir(s); several: an ensemble",
    )
    p.add_argument("--reduce", default="mean", choices=("mean", "median"), help="ensemble")
    p.add_argument("--images", default=None, help="folder of PNGs (default: the run's query/)")
    p.add_argument("--out", required=True, help="CSV to write (Id,Predicted)")
    p.add_argument("--truth", default=None, help="optional Id,Actual CSV to report the MAE")
    p.add_argument("--step", type=int, default=None, help="checkpoint (default: best)")
    args = p.parse_args(argv)
    from cosmojax import scoring
    from cosmojax.data import sources

    try:
        scorer = scoring.load(args.workdir, step=args.step, reduce=args.reduce)
        folder = (
            Path(args.images)
            if args.images
            else (sources.resolve_data_dir(scorer.config.data.dir or None) / "query")
        )
        if not args.images and not scorer.config.data.dir and not args.truth:
            default_truth = sources.default_query_truth()
            args.truth = str(default_truth) if default_truth.is_file() else None
        ids, pred = predict_folder(scorer, folder)
        layout.write_csv(args.out, ids, pred, header=layout.SUBMISSION_HEADER)
        print(
            f"Scored {len(ids)} images from {folder} with {' '.join(args.workdir)} "
            f"(step {scorer.step}) -> {args.out}"
        )
        print(
            f"  mean {pred.mean():.3f}  min {pred.min():.3f}  max {pred.max():.3f}  "
            f"histogram {histogram_line(pred)}"
        )
        if args.truth:
            t_ids, truth = layout.read_csv(Path(args.truth))
            lookup = dict(zip(t_ids, truth, strict=True))
            missing = [i for i in ids if i not in lookup]
            if missing:
                raise layout.DataError(
                    f"{args.truth}: no truth for Id {missing[0]} ({len(missing)} ids missing)"
                )
            mae = float(np.mean(np.abs(pred - np.array([lookup[i] for i in ids]))))
            print(f"  MAE against {args.truth}: {mae:.4f}")
    except (layout.DataError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
