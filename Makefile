# The two commands a new user needs: `make demo` and `make test`.
# Each creates .venv and installs the package with its extras if needed.
# On a GPU or TPU: `make ACCEL=cuda12 demo`, `make ACCEL=tpu test` (docs/accelerators.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ACCEL  ?= cpu
ifeq ($(and $(filter 1,$(words $(ACCEL))),$(filter cpu cuda12 tpu,$(ACCEL))),)
$(error ACCEL=$(ACCEL): expected cpu, cuda12 or tpu)
endif
comma  := ,
EXTRAS := test$(if $(filter-out cpu,$(ACCEL)),$(comma)$(ACCEL))
# The other accelerators' runtime packages, removed when switching ACCEL (JAX would
# otherwise still pick them up).
ACCEL_PKGS_cuda12 := jax-cuda12-plugin jax-cuda12-pjrt
ACCEL_PKGS_tpu    := libtpu
OTHER_PKGS := $(foreach a,$(filter-out $(ACCEL),cuda12 tpu),$(ACCEL_PKGS_$(a)))
STAMP  := $(VENV)/.installed-$(ACCEL)-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUNS   ?= runs/demo
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test demo bench bench-generators lint clean-demo

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@$(PY) -m pip uninstall -q -y $(OTHER_PKGS) 2>&1 | { grep -v 'as it is not installed' || true; }
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist load tests

# Generates the default synthetic data set (once) and prints its summary; trains
# a short paper scorer and writes Kaggle-style predictions for the query images;
# trains a short VAE (sample grids, curves) and writes 1000x1000 generated images.
demo: $(STAMP)
	$(PY) -m cosmojax.data.summary
	$(PY) train_scorer.py --config=configs/scorer.py --workdir=$(RUNS)/scorer \
	  --config.num_steps=200 --config.eval_every=100 --config.checkpoint_every=100
	$(PY) -m cosmojax.predict --workdir $(RUNS)/scorer --out $(RUNS)/predictions.csv
	$(PY) train_vae.py --config=configs/vae.py --workdir=$(RUNS)/vae \
	  --config.num_steps=600 --config.eval_every=300 --config.checkpoint_every=300
	rm -rf $(RUNS)/generated
	$(PY) -m cosmojax.generate --workdir $(RUNS)/vae --num 4 --size 1000 --images $(RUNS)/generated
	@echo "Done. Predictions: $(RUNS)/predictions.csv; VAE samples: $(RUNS)/vae/samples/;"
	@echo "curves: $(RUNS)/vae/curves.png; 1000x1000 images: $(RUNS)/generated/"

# The benchmarks (long on a CPU; each prints JSON), with the step counts of the
# README's tables. See benchmarks/RESULTS.md.
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[$(EXTRAS),bench]'
	$(PY) benchmarks/data_realism.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/upscale.py
	$(PY) benchmarks/throughput.py --no_pipeline  # benchmarks/pipeline.py measures the input
	$(PY) benchmarks/kill_resume.py
	$(PY) train_vae.py --config=configs/vae.py --workdir=runs/bench/vae \
	  --config.num_steps=600 --config.eval_every=300 --config.checkpoint_every=300
	$(PY) train_vae.py --config=configs/vae_conv.py --workdir=runs/bench/vae_conv
	$(PY) train_gan.py --config=configs/gan.py --workdir=runs/bench/gan
	$(PY) train_gan.py --config=configs/wgan.py --workdir=runs/bench/wgan
	$(PY) benchmarks/scorer_quality.py --paper_steps 540 --critic_steps 500
	$(PY) benchmarks/generator_quality.py --runs runs/bench --num 300 \
	  --generators vae,vae_conv,gan,wgan

# Every generator config on three seeds (hours on a CPU): median and worst seed.
bench-generators: $(STAMP)
	$(PY) -m pip install -q -e '.[$(EXTRAS),bench]'
	$(PY) benchmarks/generator_quality.py --runs runs/bench --num 300 --seeds 0,1,2 --train \
	  --generators vae,vae_conv,gan,wgan

lint: $(STAMP)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ruff check .

clean-demo:
	rm -rf $(RUNS)
