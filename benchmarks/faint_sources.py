"""How many faint sources break into several peaks? Prints one JSON object.

    python -m cosmojax.generate --workdir runs/vae --num 16 --seed 11 --images gen_learned/
    python -m cosmojax.generate --workdir runs/vae --num 16 --seed 11 --images gen_stamps/ \
        --method stamps
    python benchmarks/faint_sources.py gen_learned/ gen_stamps/ [--real 16]

For each folder of 1000x1000 PNGs (and ``--real`` label-1 images of the
default data set, or ``--data_dir``): the faint sources, connected
components above the sky (the image's median) whose peak is 4-12 counts above
it and that cover at least 30 pixels, and how many of them hold more than one
local maximum (a pixel at least 2 counts above the sky that is the largest of
its 3x3 neighbourhood). A real faint galaxy is one smooth blob with one peak.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosmojax.data import layout  # noqa: E402

PEAK = (4, 12)  # counts above the sky
MIN_PIXELS = 30


def faint_sources(images) -> dict:
    """uint8 images ``[H, W]`` -> counts of their faint sources and of those with
    several local maxima."""
    faint = several = 0
    for image in images:
        a = np.maximum(np.asarray(image, np.float32) - np.median(image), 0.0)
        labels, n = ndimage.label(a > 0)
        index = np.arange(1, n + 1)
        pixels = ndimage.sum(np.ones_like(a), labels, index)
        peak = ndimage.maximum(a, labels, index)
        maxima = (a == ndimage.maximum_filter(a, 3)) & (a >= 2)
        per_source = ndimage.sum(maxima, labels, index)
        chosen = (peak >= PEAK[0]) & (peak <= PEAK[1]) & (pixels >= MIN_PIXELS)
        faint += int(chosen.sum())
        several += int((chosen & (per_source > 1)).sum())
    return {
        "images": len(images),
        "faint_sources": faint,
        "with_several_peaks": several,
        "fraction_with_several_peaks": several / faint if faint else None,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", help="folders of generated PNGs")
    p.add_argument("--real", type=int, default=16, help="label-1 images to measure alike")
    p.add_argument("--data_dir", default=None, help="default: the default synthetic set")
    args = p.parse_args(argv)
    out = {}
    for folder in args.folders:
        paths = sorted(Path(folder).glob("*.png"))
        if not paths:
            sys.exit(f"error: {folder}: no PNG files")
        out[folder] = faint_sources([layout.read_png(q) for q in paths])
    if args.real:
        from cosmojax.evaluation import real as real_lib

        real = real_lib.load_real(args.data_dir or "", args.real, progress=False)
        out["real label-1"] = faint_sources(list(real))
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
