"""How close is the synthetic data to the real CIL data? Prints one JSON object.

    python benchmarks/data_realism.py [--data_dir DIR] [--images 200]

Per-image statistics are medians over label-1 images of ``labeled/`` whose
background is exactly 0, like the real reference image they are compared
with; set statistics are compared with the real data set as a whole.
Target: every compared statistic within 25% (relative).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from cosmojax.data import layout, sources
from cosmojax.evaluation import catalog

# Measured on a real labeled/ image and on the real data set (see the README).
REAL_IMAGE = {
    "zero_fraction": 0.997225,
    "nonzero_fraction": 0.002775,
    "mean": 0.031213,
    "max": 255.0,
    "components_above_0": 50,
    "components_above_5": 18,
    "components_above_20": 9,
    "components_above_50": 6,
}
REAL_SET = {
    "background_zero_fraction": 0.80,
    "score_mean": 1.654,
    "score_median": 1.503,
    "score_sd": 1.086,
    "score_max": 6.25,
}
TOLERANCE = 0.25


def measure(root, n_images: int) -> dict:
    ids, paths, labels = layout.list_split(root, "labeled")
    chosen = [p for p, t in zip(paths, labels, strict=True) if t == 1][:n_images]
    stats = [catalog.image_summary(layout.read_png(p)) for p in chosen]
    zero_bg = [s for s in stats if s["background"] == 0]
    med = {k: float(np.median([s[k] for s in zero_bg])) for k in stats[0]}
    med["nonzero_fraction"] = 1.0 - med["zero_fraction"]
    bright = np.array([s["bright_objects"] for s in stats])
    _, scores = layout.read_csv(layout.csv_path(root, "scored"), split="scored")
    return {
        "image": {k: med[k] for k in REAL_IMAGE},
        "set": {
            "background_zero_fraction": float(np.mean([s["background"] == 0 for s in stats])),
            "score_mean": float(scores.mean()),
            "score_median": float(np.median(scores)),
            "score_sd": float(scores.std()),
            "score_max": float(scores.max()),
        },
        "extra": {
            "score_min": float(scores.min()),
            "bright_objects_5_to_25_fraction": float(np.mean((bright >= 5) & (bright <= 25))),
            "score_counts_per_0.5": np.histogram(scores, np.arange(0, 7, 0.5))[0].tolist(),
            "images_measured": len(stats),
            "images_with_zero_background": len(zero_bg),
        },
    }


def compare(measured: dict) -> dict:
    rows = {}
    for group, ref in (("image", REAL_IMAGE), ("set", REAL_SET)):
        for k, real in ref.items():
            syn = measured[group][k]
            rel = abs(syn - real) / abs(real)
            rows[k] = {
                "real": real,
                "synthetic": round(syn, 6),
                "rel_diff": round(rel, 4),
                "within_25pct": rel <= TOLERANCE,
            }
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="")
    p.add_argument("--images", type=int, default=200)
    args = p.parse_args()
    root = sources.resolve_data_dir(args.data_dir or None)
    measured = measure(root, args.images)
    rows = compare(measured)
    print(
        json.dumps(
            {
                "benchmark": "data_realism",
                "data_dir": str(root),
                "comparison": rows,
                "all_within_25pct": all(r["within_25pct"] for r in rows.values()),
                **measured["extra"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
