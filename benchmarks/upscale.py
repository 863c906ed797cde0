"""Which upscaler keeps cosmology images what they are? Prints one JSON object.

    python benchmarks/upscale.py [--image PATH] [--gammas 1.5,2,2.5,3]

Round trip: a 1000x1000 image is area-downsampled to 128 (as the generators
see the data) and upscaled back with each method; the statistics of the result
are compared with the original (zero fraction, components above 0/5/20/50,
maximum). By default it uses the real image in ../shared/data if present, and
clean synthetic images in any case.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cosmojax import upscale
from cosmojax.data import layout, resample, synthetic
from cosmojax.evaluation import catalog

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cil_labeled_1009590.png"


def round_trip(image: np.ndarray, method: str, **kw) -> dict:
    small = resample.area_resize(image, 128) / 255.0
    return catalog.image_summary(upscale.upscale(small, 1000, method, **kw))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=str(REAL))
    p.add_argument("--thresholds", default="0.02,0.05,0.2")
    p.add_argument("--synthetic", type=int, default=10, help="clean synthetic images")
    args = p.parse_args()
    sets = {}
    if Path(args.image).is_file():
        sets["real"] = [layout.read_png(args.image)]
    sets["synthetic_clean"] = [
        synthetic.make_image(0, "labeled", i, "clean")[0] for i in range(args.synthetic)
    ]
    keys = [
        "zero_fraction",
        "components_above_0",
        "components_above_5",
        "components_above_20",
        "components_above_50",
        "max",
    ]
    out = {"benchmark": "upscale"}
    for name, imgs in sets.items():
        orig = [catalog.image_summary(im) for im in imgs]
        res = {"original": {k: float(np.median([o[k] for o in orig])) for k in keys}}
        variants = [(m, {}) for m in upscale.METHODS if m != "sources"]
        variants += [("sources", {"threshold": float(t)}) for t in args.thresholds.split(",")]
        for method, kw in variants:
            stats = [round_trip(im, method, **kw) for im in imgs]
            label = method + (f"_threshold{kw['threshold']:g}" if kw else "")
            res[label] = {k: float(np.median([s[k] for s in stats])) for k in keys}
        out[name] = res
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
