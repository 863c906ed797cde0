"""The best step time a device's vendor peaks allow, from XLA's cost analysis.

A compiled step's cost analysis gives its FLOPs and the bytes its kernels read
and write (after fusion: every operand of every kernel, so more than the
minimum a step must move). Neither can go faster than the device's peak, so the
step takes at least ``max(flops / peak FLOP/s, bytes / HBM bandwidth)``; the
larger term says whether the step is compute- or memory-bound at that floor.

The peaks are the vendors' datasheet numbers, not measurements:

- NVIDIA H200 SXM (datasheet): FP32 67 TFLOP/s (CUDA cores); TF32 tensor cores
  989 and BF16 1,979 TFLOP/s *with 2:4 sparsity*, so 494.5 and 989.5 dense
  (used here); HBM3e 4.8 TB/s. JAX runs float32 matmuls and convolutions on a
  GPU as TF32 unless ``jax_default_matmul_precision`` is ``highest`` (then FP32).
- Google Cloud TPU v5e (Cloud TPU docs): BF16 197 TFLOP/s; HBM2 819 GB/s. No
  float32 peak is published: at JAX's default precision a float32 matmul is one
  bfloat16 pass of the MXU (the BF16 peak applies), at ``highest`` six.
"""

from __future__ import annotations

PEAKS = {
    "h200": {
        "device": "NVIDIA H200 SXM",
        "flops_per_s": {"fp32": 67e12, "tf32": 494.5e12, "bf16": 989.5e12},
        "bytes_per_s": 4.8e12,
        "source": "NVIDIA H200 datasheet; vendor peaks, dense (tensor-core sparse figures halved)",
    },
    "tpu_v5e": {
        "device": "Google Cloud TPU v5e",
        "flops_per_s": {"bf16": 197e12},
        "bytes_per_s": 819e9,
        "source": "Cloud TPU v5e documentation; vendor peaks (no float32 peak is published)",
    },
}

# The peaks a step of each compute dtype is held against: (device, precision).
# A float32 step on an H200 runs its matmuls as TF32 at JAX's default precision
# and as FP32 at "highest"; on a TPU v5e as one bfloat16 pass at the default.
PEAKS_FOR_DTYPE = {
    "float32": (("h200", "fp32"), ("h200", "tf32"), ("tpu_v5e", "bf16")),
    "bfloat16": (("h200", "bf16"), ("tpu_v5e", "bf16")),
}


def step_cost(compiled) -> dict:
    """``{"flops_per_step", "bytes_per_step"}`` of a compiled step (``jax.jit(f)
    .lower(...).compile()``). jax 0.10 returns one dict; older versions a list
    with one dict per program."""
    cost = compiled.cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    cost = cost or {}
    return {
        "flops_per_step": float(cost.get("flops", 0.0)),
        "bytes_per_step": float(cost.get("bytes accessed", 0.0)),
    }


def floor(flops: float, nbytes: float, batch: int, flops_per_s: float, bytes_per_s: float):
    """The step's floor at one peak: the longer of its FLOPs at the peak rate and
    its bytes at the peak bandwidth, and the images per second it allows."""
    t_flops, t_bytes = flops / flops_per_s, nbytes / bytes_per_s
    step_s = max(t_flops, t_bytes)
    return {
        "step_s": step_s,
        "images_per_s": batch / step_s if step_s > 0 else float("inf"),
        "flops_s": t_flops,
        "bytes_s": t_bytes,
        "bound": "compute" if t_flops >= t_bytes else "memory",
    }


def roofline(cost: dict, batch: int, dtype: str) -> dict:
    """``{"<device>_<precision>": floor}`` for each peak that ``dtype`` is held against."""
    out = {}
    for device, precision in PEAKS_FOR_DTYPE[dtype]:
        peak = PEAKS[device]
        out[f"{device}_{precision}"] = floor(
            cost["flops_per_step"],
            cost["bytes_per_step"],
            batch,
            peak["flops_per_s"][precision],
            peak["bytes_per_s"],
        )
    return out


def rounded(floors: dict) -> dict:
    """:func:`roofline`'s floors for printing: milliseconds and img/s, 4 digits."""
    sig = lambda x: float(f"{x:.4g}")
    return {
        name: {
            "step_ms": sig(f["step_s"] * 1e3),
            "images_per_s": sig(f["images_per_s"]),
            "bound": f["bound"],
            "flops_ms": sig(f["flops_s"] * 1e3),
            "bytes_ms": sig(f["bytes_s"] * 1e3),
        }
        for name, f in floors.items()
    }


def peaks_row() -> dict:
    """The peaks the floors are computed from, for the JSON output."""
    return {"model": "peaks", "vendor_peaks_not_measured": True, **PEAKS}
