"""Scores a folder of PNG images and writes a Kaggle submission CSV.

    python -m cosmojax.predict --workdir runs/scorer --out predictions.csv \\
        [--images FOLDER | --data_dir DATA] [--truth truth.csv] [--step N]
    python -m cosmojax.predict --workdir runs/s0 runs/s1 runs/s2 [--reduce median] ...

Several workdirs score as an ensemble: each member at its own resolution, the
scores averaged (``--reduce mean``, the default) or their median taken.

Without ``--images`` it scores the ``query/`` folder of ``--data_dir`` or, by
default, of the data set the run was trained on (and, for the default
synthetic set, reports the MAE against its query truth). Writes
``Id,Predicted`` (Id = file stem), clipped to [0, 8], and prints the count,
the mean and a histogram; with ``--truth`` (an ``Id,Actual`` CSV, e.g. the
synthetic query truth) also the MAE.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cosmojax import configlib
from cosmojax import images as images_lib
from cosmojax.data import layout


def predict_folder(scorer, folder, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """Ids (file stems) and scores of the PNGs in ``folder``, sorted by name, for a
    :class:`~cosmojax.scoring.Scorer` or an :class:`~cosmojax.scoring.Ensemble`
    (its :meth:`score`: each PNG is read once).

    >>> from cosmojax import scoring
    >>> ids, scores = predict_folder(scoring.load("runs/scorer"), "data/query")
    ... # doctest: +SKIP
    >>> ids[:2], scores[:2]  # doctest: +SKIP
    (['1000129', '1001356'], array([0.61, 2.43], dtype=float32))
    """
    paths = images_lib.list_pngs(folder)
    ids = [layout.check_id(p.stem, str(p)) for p in paths]
    return ids, scorer.score(images_lib.read_pngs(paths, progress))


def histogram_line(pred: np.ndarray) -> str:
    """Counts of ``pred`` in the unit bins of [0, 8] that hold any.

    >>> histogram_line(np.array([0.5, 0.7, 3.2]))
    '[0,1):2  [3,4):1'
    """
    counts, edges = np.histogram(pred, bins=np.arange(0, 8.5, 1.0))
    return "  ".join(
        f"[{a:g},{b:g}):{c}" for a, b, c in zip(edges, edges[1:], counts, strict=False) if c
    )


def parser():
    """The command line of ``python -m cosmojax.predict``."""
    p = configlib.command_parser("cosmojax.predict", __doc__)
    p.add_argument(
        "--workdir",
        required=True,
        nargs="+",
        help="scorer training workdir(s); several score as an ensemble",
    )
    p.add_argument(
        "--reduce",
        default="mean",
        choices=("mean", "median"),
        help="how an ensemble combines its members' scores",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--images",
        default=None,
        help="folder of PNGs to score (default: the query/ folder of --data_dir)",
    )
    which.add_argument(
        "--data_dir",
        default=None,
        help="CIL-layout folder whose query/ images to score (default: the run's data)",
    )
    p.add_argument("--out", required=True, help="CSV to write (Id,Predicted)")
    p.add_argument(
        "--truth", default=None, help="Id,Actual CSV of the images' scores, to report the MAE"
    )
    p.add_argument("--step", type=int, default=None, help="checkpoint (default: the best)")
    return p


def main(argv=None):
    """``python -m cosmojax.predict`` with the flags of ``argv``.

    >>> main(["--workdir", "runs/scorer", "--out", "pred.csv"])  # doctest: +SKIP
    Scored 9000 images from ... -> pred.csv
    """
    from cosmojax.console import quiet_logs

    quiet_logs()
    args = parser().parse_args(argv)
    from cosmojax import scoring

    try:
        scorer = scoring.load(args.workdir, step=args.step, reduce=args.reduce)
        folder, truth = _folder_and_truth(args, scorer.config.data.dir)
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
        if truth:
            print(f"  MAE against {truth}: {_mae(ids, pred, truth):.4f}")
    except (layout.DataError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")


def _folder_and_truth(args, run_data_dir: str) -> tuple[Path, str | None]:
    """The folder to score (``--images``, else ``query/`` of ``--data_dir`` or of
    the run's data) and the truth CSV (``--truth``; for the default synthetic
    set's query images, its query truth)."""
    from cosmojax.data import sources

    if args.images:
        return Path(args.images), args.truth
    data_dir = args.data_dir or run_data_dir or None
    folder = sources.resolve_data_dir(data_dir) / "query"
    if data_dir or args.truth:
        return folder, args.truth
    default_truth = sources.default_query_truth()
    return folder, str(default_truth) if default_truth.is_file() else None


def _mae(ids, pred, truth_csv) -> float:
    t_ids, truth = layout.read_csv(Path(truth_csv))
    lookup = dict(zip(t_ids, truth, strict=True))
    missing = [i for i in ids if i not in lookup]
    if missing:
        raise layout.DataError(
            f"{truth_csv}: no truth for Id {missing[0]} ({len(missing)} ids missing)"
        )
    return float(np.mean(np.abs(pred - np.array([lookup[i] for i in ids]))))


if __name__ == "__main__":
    main()
