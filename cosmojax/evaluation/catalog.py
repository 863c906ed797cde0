"""Source catalogue of an image: connected components above intensity thresholds.

Thresholds are counts above the image's background level, taken as its
minimum (0 for most real images, a constant 1-2 for the others), so a constant
background does not merge the whole sky into one component. Connectivity is
8-neighbour.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

THRESHOLDS = (0, 5, 20, 50)
_EIGHT = np.ones((3, 3), bool)


def zero_fraction(image: np.ndarray) -> float:
    return float(np.mean(np.asarray(image) == 0))


def components(image: np.ndarray, threshold: float):
    """``(labels, count)`` of the components brighter than background + threshold."""
    image = np.asarray(image, np.float32)
    return ndimage.label(image > image.min() + threshold, structure=_EIGHT)


def component_counts(image: np.ndarray, thresholds=THRESHOLDS) -> dict[float, int]:
    return {t: int(components(image, t)[1]) for t in thresholds}


def catalog(image: np.ndarray, threshold: float = 0.0) -> dict[str, np.ndarray]:
    """Per-source ``flux`` (summed counts above background), ``area`` and ``peak``."""
    image = np.asarray(image, np.float32)
    labels, n = components(image, threshold)
    if n == 0:
        empty = np.zeros(0, np.float32)
        return {"flux": empty, "area": empty, "peak": empty}
    index = np.arange(1, n + 1)
    above = image - image.min()
    return {
        "flux": np.asarray(ndimage.sum(above, labels, index), np.float32),
        "area": np.asarray(ndimage.sum(np.ones_like(above), labels, index), np.float32),
        "peak": np.asarray(ndimage.maximum(image, labels, index), np.float32),
    }


def image_summary(image: np.ndarray) -> dict[str, float]:
    """The calibration numbers of one 8-bit image (see benchmarks/data_realism.py)."""
    image = np.asarray(image)
    out = {
        "zero_fraction": zero_fraction(image),
        "mean": float(image.mean()),
        "max": float(image.max()),
        "background": float(image.min()),
    }
    for t, n in component_counts(image).items():
        out[f"components_above_{t:g}"] = float(n)
    cat = catalog(image, 20)
    out["bright_objects"] = float(len(cat["peak"]))
    return out
