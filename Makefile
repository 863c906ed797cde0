# The two commands a new user needs: `make demo` and `make test`.
# Each creates .venv and installs the package with its extras if needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUNS   ?= runs/demo
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test demo bench lint clean-demo

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
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
	$(PY) -m cosmojax.generate --workdir $(RUNS)/vae --num 4 --size 1000 --out $(RUNS)/generated
	@echo "Done. Predictions: $(RUNS)/predictions.csv; VAE samples: $(RUNS)/vae/samples/;"
	@echo "curves: $(RUNS)/vae/curves.png; 1000x1000 images: $(RUNS)/generated/"

# The benchmarks (long on a CPU; each prints JSON). See benchmarks/RESULTS.md.
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) benchmarks/data_realism.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/upscale.py
	$(PY) benchmarks/throughput.py --no_pipeline  # benchmarks/pipeline.py measures the input
	$(PY) benchmarks/kill_resume.py
	$(PY) train_vae.py --config=configs/vae.py --workdir=runs/bench/vae \
	  --config.num_steps=1500 --config.eval_every=500 --config.checkpoint_every=500
	$(PY) train_gan.py --config=configs/gan.py --workdir=runs/bench/gan \
	  --config.num_steps=400 --config.eval_every=200 --config.checkpoint_every=200
	$(PY) train_gan.py --config=configs/wgan.py --workdir=runs/bench/wgan \
	  --config.num_steps=150 --config.eval_every=75 --config.checkpoint_every=75
	$(PY) benchmarks/scorer_quality.py --critic_steps 500
	$(PY) benchmarks/generator_quality.py --runs runs/bench --num 300 --generators vae,gan,wgan

lint: $(STAMP)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ruff check .

clean-demo:
	rm -rf $(RUNS)
