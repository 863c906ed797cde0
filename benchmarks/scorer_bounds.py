"""How far the benchmark's scorers are from what the images can tell. Prints one JSON table.

    python benchmarks/scorer_bounds.py [--max_iter 1500]

Only for the default synthetic set: its generator's drawn parameters are known
(:func:`cosmojax.data.synthetic.parameters`), so the score's inputs can be
handed to the boosted trees of ``benchmarks/scorer_quality.py`` (same split,
same settings) beside, or instead of, the full-resolution statistics. Each row
is the query MAE of one such fit:

* ``statistics``: the statistics alone (``boosted_trees_fullres`` there);
* ``statistics+<name>``: plus the true value of one input of the score, the
  soft count of bright sources (``n_bright``) or the strength of a corruption
  that the score penalises (density acts only through the count);
* ``statistics+corruptions``: plus every corruption strength;
* ``statistics+n_bright_except_noisy``: plus the true soft count, left missing
  on images with noise strength >= :data:`NOISY` (sky sigma >= 10 counts);
* ``parameters``: the true inputs alone (no image), with ``_without_<names>``
  leaving some out: the error that their absence alone costs;
* ``statistics+parameters_without_<names>``: the statistics plus the true
  inputs except those.

A row with a true input shows how much error measuring that input leaves;
a ``_without`` row bounds what any scorer can reach if those inputs cannot be
measured from the image any better than the statistics measure them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scorer_quality as sq  # noqa: E402

from cosmojax.data import sources, synthetic  # noqa: E402

PENALISED = tuple(c for c, (_, weight) in synthetic.CORRUPTIONS.items() if weight > 0)
CORRUPTIONS = (*PENALISED, *(c for c in synthetic.CORRUPTIONS if c not in PENALISED))
COLUMNS = ("photo", "n_bright", *CORRUPTIONS)
NOISY = 0.3  # noise strength from which the soft count is withheld


def parameter_table() -> dict[str, np.ndarray]:
    """``id -> [photo, n_bright, |strength| of each corruption]`` of the default set."""
    out = {}
    for i, p in synthetic.parameters(**sources.DEFAULT_SYNTHETIC).items():
        if p is None:
            out[i] = np.r_[1.0, np.zeros(len(COLUMNS) - 1)]
        else:
            out[i] = np.r_[0.0, p.n_bright, [abs(p.corruptions.get(c, 0.0)) for c in CORRUPTIONS]]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max_iter", type=int, default=1500)
    args = ap.parse_args(argv)
    train, _, query, truth = sq.data_at(128, stats=True)
    table = parameter_table()
    truth_tr = np.stack([table[i] for i in train.ids])
    truth_q = np.stack([table[i] for i in query.ids])
    stats_tr, stats_q = np.asarray(train.stats, np.float64), np.asarray(query.stats, np.float64)

    def fit(columns, with_stats=True, noisy_missing=False) -> float:
        idx = [COLUMNS.index(c) for c in columns]
        a, b = truth_tr[:, idx], truth_q[:, idx]
        if noisy_missing:  # trees take NaN as missing
            noise = COLUMNS.index("noise")
            a = np.where(truth_tr[:, [noise]] >= NOISY, np.nan, a)
            b = np.where(truth_q[:, [noise]] >= NOISY, np.nan, b)
        if with_stats:
            a, b = np.c_[stats_tr, a], np.c_[stats_q, b]
        model = sq.trees(args.max_iter).fit(a, train.targets)
        return round(sq.mae(model.predict(b), truth), 4)

    t0 = time.perf_counter()
    rows = {"statistics": fit([])}
    for c in ("n_bright", *PENALISED):
        rows[f"statistics+{c}"] = fit([c])
    rows["statistics+corruptions"] = fit(list(CORRUPTIONS))
    rows["statistics+n_bright_except_noisy"] = fit(["n_bright"], noisy_missing=True)
    rows["parameters"] = fit(COLUMNS, with_stats=False)
    for left_out in (("gain",), ("clustering",), ("gain", "clustering")):
        kept = [c for c in COLUMNS if c not in left_out]
        rows["parameters_without_" + "_".join(left_out)] = fit(kept, with_stats=False)
        rows["statistics+parameters_without_" + "_".join(left_out)] = fit(kept)
    print(json.dumps({"query_mae": rows, "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


if __name__ == "__main__":
    main()
