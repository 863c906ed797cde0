"""Prints a summary of a CIL-layout data set (the default synthetic one if none given).

python -m cosmojax.data.summary [--data_dir PATH] [--images 20]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from cosmojax.data import layout, sources
from cosmojax.evaluation import catalog


def summarize(root, n_images: int = 20) -> dict:
    out = {"root": str(root)}
    for split in layout.SPLITS:
        ids, paths, targets = layout.list_split(root, split)
        info = {"images": len(ids)}
        if split == "labeled":
            info["label_1"] = int(np.sum(targets == 1))
            info["label_0"] = int(np.sum(targets == 0))
        if split == "scored":
            info.update(
                min=float(targets.min()),
                max=float(targets.max()),
                mean=float(targets.mean()),
                median=float(np.median(targets)),
                sd=float(targets.std()),
            )
            info["histogram_0.5"] = np.histogram(targets, bins=np.arange(0, 8.5, 0.5))[0].tolist()
        out[split] = info
    ids, paths, targets = layout.list_split(root, "labeled")
    chosen = [p for p, t in zip(paths, targets, strict=True) if t == 1][:n_images]
    stats = [catalog.image_summary(layout.read_png(p)) for p in chosen]
    if stats:
        out["label_1_image_medians"] = {
            k: float(np.median([s[k] for s in stats])) for k in stats[0]
        }
    return out


def format_summary(s: dict) -> str:
    lines = [f"Data set: {s['root']}"]
    lab, sc, q = s["labeled"], s["scored"], s["query"]
    lines.append(
        f"  labeled: {lab['images']} images ({lab['label_1']} label 1, {lab['label_0']} label 0)"
    )
    lines.append(
        f"  scored:  {sc['images']} images, score min {sc['min']:.3f} max {sc['max']:.3f} "
        f"mean {sc['mean']:.3f} median {sc['median']:.3f} sd {sc['sd']:.3f}"
    )
    lines.append(f"           counts per 0.5 from 0: {sc['histogram_0.5']}")
    lines.append(f"  query:   {q['images']} images (no targets)")
    if "label_1_image_medians" in s:
        m = s["label_1_image_medians"]
        lines.append(
            "  label-1 images (medians): " + ", ".join(f"{k} {v:.4g}" for k, v in m.items())
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="", help="CIL-layout folder (default: synthetic set)")
    p.add_argument("--images", type=int, default=20, help="label-1 images to measure")
    args = p.parse_args(argv)
    try:
        root = sources.resolve_data_dir(args.data_dir or None)
        print(format_summary(summarize(root, args.images)))
    except layout.DataError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
