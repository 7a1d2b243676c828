# The two set-up commands of the README. Both are idempotent: the environment is (re)built only when
# pyproject.toml changes, and `dvc repro` reruns only what changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
# Stage commands in dvc.yaml say `python`: it must be the project's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

FLOORS := .venv-floors

.PHONY: run matrix test test-fast test-floors setup bench clean-runs compare

# The trainings and evaluations side by side (alexnet-matrix: one per GPU group, or per core on a CPU), then
# `dvc repro`, which adopts each finished one and reports: the same results as a bare `dvc repro`, sooner.
run: $(STAMP)            ## set up, then run the whole pipeline on the embedded dataset
	python -m alexnet_repro.pipeline_params
	alexnet-matrix $(if $(JOBS),--jobs $(JOBS))

matrix: run              ## the same as run (JOBS=N: at most N jobs at once)

test: $(DEV)             ## set up, lint, then run every test (slow end-to-end ones included), then the floors'
	ruff check .
	pytest -m "slow or not slow"
	$(MAKE) test-floors

# pyproject.toml's floors of Lightning and DVC, installed in an environment of their own: the matrix (which writes
# dvc.lock through DVC's ProjectFile) and training (Trainer.fit(weights_only=)) tests must pass there too.
test-floors: $(FLOORS)/.installed
	$(FLOORS)/bin/python -m pytest -p no:cacheprovider tests/test_matrix.py tests/test_train.py -m "not slow"

$(FLOORS)/.installed: pyproject.toml constraints-floor.txt
	rm -rf $(FLOORS)
	$(PYTHON) -m venv $(FLOORS)
	$(FLOORS)/bin/pip install --quiet -c constraints-floor.txt -e ".[dev]"
	touch $@

test-fast: $(DEV)        ## the fast default suite only
	pytest

setup: $(STAMP)

compare: $(STAMP)        ## after `make run`: do this machine's results agree with the committed ones (seed spread)?
	python -m alexnet_repro.reproducibility

# `make run` installs what the pipeline runs, `make test` the dev extra too (pytest, notebooks, DALI's CPU decoder:
# a third of the set-up time on a slow 2-core box). pip compiles each file in turn; compileall on every core is
# quicker (a 2-core AVX2 EPYC: 132 + 42 s against 197 s), and the bytecode must be written then: some machines set
# PYTHONDONTWRITEBYTECODE, and there an uncompiled torch imports in 26 s instead of 11. compileall fails on files
# written for a newer Python (torch's py312 test helpers), which pip's own compile step skips the same way.
COMPILE = $(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true

$(STAMP): pyproject.toml constraints.txt $(BIN)/pip
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e .
	$(COMPILE)
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e ".[dev]"
	$(COMPILE)
	touch $(DEV)

# A venv is whole once it has pip (venv installs it last): one interrupted before that is made again, not kept
# forever half-made (`.venv/bin/pip: not found` at every later `make`).
$(BIN)/pip:
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)

bench: $(DEV)            ## every benchmark; the resize and loader ones use photographs (the bench extra)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,bench]"
	python bench/train_step.py
	python bench/embedded_step.py
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/embedded_step.py
	python bench/resize.py
	python bench/loader.py
	python bench/scale.py
	python bench/gpu.py
