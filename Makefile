# Two commands for a fresh machine (see README.md); both reuse the environment on a second run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick

.PHONY: study test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $@

## Set up, then run the whole study (the MLproject's main entry point) on the default store.
study: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/mlflow run . -P profile=$(PROFILE) --env-manager local \
		--experiment-name study --run-name study-$(PROFILE)

## Set up, then run the test suite.
test: $(BIN)/.installed
	$(BIN)/python -m pytest
