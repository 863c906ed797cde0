"""The camera's response at the bright end, shared by the synthetic data's
renderer and the upscaler: linear up to a knee, then a smooth approach to the
8-bit ceiling, so that bright stars saturate at 255 as in the real images."""

from __future__ import annotations

import numpy as np

KNEE = 200.0  # soft saturation knee; the asymptote is 255


def soft_saturate(x: np.ndarray) -> np.ndarray:
    """Identity below the knee, then a smooth approach to 255.

    >>> soft_saturate(np.array([100.0, 200.0, 1000.0])).round(1).tolist()
    [100.0, 200.0, 255.0]
    """
    over = np.maximum(x - KNEE, 0.0)
    return np.where(x > KNEE, KNEE + (255.0 - KNEE) * np.tanh(over / (255.0 - KNEE)), x)
