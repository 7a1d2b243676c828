# The two set-up commands of the README. Both are idempotent: the environment is (re)built only when
# pyproject.toml changes, and `dvc repro` reruns only what changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Stage commands in dvc.yaml say `python`: it must be the project's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test test-fast setup bench clean-runs

run: $(STAMP)            ## set up, then run the whole pipeline on the embedded dataset
	dvc repro

test: $(STAMP)           ## set up, lint, then run every test (slow end-to-end ones included)
	ruff check .
	pytest -m "slow or not slow"

test-fast: $(STAMP)      ## the fast default suite only
	pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

bench: $(STAMP)          ## every benchmark; the resize and loader ones use photographs (the bench extra)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	python bench/train_step.py
	python bench/embedded_step.py
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/embedded_step.py
	python bench/resize.py
	python bench/loader.py
	python bench/scale.py
	python bench/gpu.py
