"""benchmarks/throughput.py: the models timed against the PyTorch peer are the
peer's architectures, and the roofline floors follow from the step's cost."""

from __future__ import annotations

import pytest

from benchmarks import roofline, throughput

# The PyTorch peer's parameter counts (../shared/peers/torch_reference.py, beside
# the checkout, with PyTorch from the 'bench' extra). PyTorch is not a test
# dependency: ``python benchmarks/throughput.py`` compares the count each PyTorch
# model reports with the JAX model's whenever it runs the peer, and stops with
# ParamMismatch when they differ (test_another_architecture_stops_the_benchmark
# shows the stop); here the JAX counts are held to the architecture's formula
# and to these numbers.
PAPER_COUNTS = {"scorer": 7_892_297, "vae_paper": 34_980_512, "dcgan_paper": 6_338_176}


def peer_of(name: str) -> str:
    return throughput.MODELS[name][2]


def test_the_models_with_a_peer_are_the_papers():
    assert [n for n in throughput.MODELS if peer_of(n)] == list(PAPER_COUNTS)


@pytest.mark.parametrize("name", list(PAPER_COUNTS))
def test_paper_model_has_the_peers_parameter_count(name):
    config = throughput.model_config(name)
    _, count = throughput.build(name, config, check=False)  # eval_shape only
    reference = throughput.reference_params(peer_of(name), config.data.resolution)
    assert count == reference == PAPER_COUNTS[name]


def test_another_architecture_stops_the_benchmark():
    config = throughput.model_config("dcgan_paper", **{"model.ngf": 32})
    with pytest.raises(throughput.ParamMismatch, match="dcgan_paper"):
        throughput.build("dcgan_paper", config)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_roofline_of_a_small_train_step(dtype):
    tiny = {"data.resolution": 16, "model.hidden": 8, "model.latent_dim": 4}
    config = throughput.model_config("vae_paper", batch=4, dtype=dtype, **tiny)
    row = throughput.roofline_row("vae_paper", config, check=False)
    flops, nbytes = row["flops_per_step"], row["bytes_per_step"]
    assert flops > 0 and nbytes > 0
    floors = roofline.roofline(row, 4, dtype)
    assert set(floors) == set(row["roofline"])
    for device, precision in roofline.PEAKS_FOR_DTYPE[dtype]:
        peak = roofline.PEAKS[device]
        t_flops = flops / peak["flops_per_s"][precision]
        t_bytes = nbytes / peak["bytes_per_s"]
        f = floors[f"{device}_{precision}"]
        assert f["step_s"] == pytest.approx(max(t_flops, t_bytes), rel=1e-12)
        assert f["images_per_s"] == pytest.approx(4 / max(t_flops, t_bytes), rel=1e-12)
        assert f["bound"] == ("compute" if t_flops >= t_bytes else "memory")
        printed = row["roofline"][f"{device}_{precision}"]
        assert printed["step_ms"] == pytest.approx(max(t_flops, t_bytes) * 1e3, rel=1e-3)


@pytest.mark.parametrize(
    "flops, nbytes, bound, step_s",
    [(4e12, 1e12, "compute", 2.0), (1e12, 4e12, "memory", 4.0)],
)
def test_floor_is_the_longer_of_compute_and_memory_time(flops, nbytes, bound, step_s):
    f = roofline.floor(flops, nbytes, 8, flops_per_s=2e12, bytes_per_s=1e12)
    assert (f["step_s"], f["images_per_s"], f["bound"]) == (step_s, 8 / step_s, bound)


class _Compiled:
    def __init__(self, cost):
        self.cost = cost

    def cost_analysis(self):
        return self.cost


def test_step_cost_reads_a_dict_or_a_list_of_dicts():
    cost = {"flops": 6.0, "bytes accessed": 8.0, "utilization0{}": 1.0}
    expected = {"flops_per_step": 6.0, "bytes_per_step": 8.0}
    assert roofline.step_cost(_Compiled(cost)) == expected
    assert roofline.step_cost(_Compiled([cost])) == expected
