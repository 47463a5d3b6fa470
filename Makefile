# The two commands of the README: `make run` and `make test`. Both create .venv and install:
# `make run` only what running needs, `make test` the development tools as well (.[dev]).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint bench install wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

# For developers (the tests and linters); `make run` alone installs only the runtime.
install: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/nianjian db upgrade
	$(BIN)/nianjian run

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run_all

# A wheel in dist/ (migrations, templates and the reminder schedule inside the package).
wheel: $(DEV_STAMP)
	rm -rf dist build
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .import_linter_cache dist build
