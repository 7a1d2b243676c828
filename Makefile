# The two set-up commands of the README. Both are idempotent: the environment is (re)built only when
# pyproject.toml changes, and `dvc repro` reruns only what changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast setup bench clean-runs

run: $(STAMP)            ## set up, then run the whole pipeline on the embedded dataset
	$(BIN)/dvc repro

test: $(STAMP)           ## set up, then run every test (slow end-to-end ones included)
	$(BIN)/pytest -m "slow or not slow"

test-fast: $(STAMP)      ## the fast default suite only
	$(BIN)/pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/resize.py
	$(BIN)/python bench/loader.py
