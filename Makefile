# Two set-up commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: run test test-fast lint format install install-dev lock bench evaluate train docs clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Runtime only: the API and the page need neither torch nor the test tools. Every install
# takes the versions in constraints.txt (the ones the suite last passed with).
$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

# Everything: runtime, training extra (CPU torch 2.13.0) and dev tools.
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -c constraints.txt -e '.[train,dev]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

# Take the newest releases pyproject.toml allows and write them to constraints.txt; run
# `make test` on the result before committing it.
lock: | $(BIN)/activate
	$(PY) -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[train,dev]'
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; } > constraints.tmp
	mv constraints.tmp constraints.txt
	touch $(VENV)/.installed-dev $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(PY) production_runner.py all

test: $(VENV)/.installed-dev
	$(PY) -m pytest

test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(PY) production_runner.py bench

evaluate: $(VENV)/.installed-run
	$(PY) production_runner.py evaluate --data ../shared/data/amulets

train: $(VENV)/.installed-dev
	$(PY) production_runner.py train --data ../shared/data/amulets --out models/

# Regenerate what is generated from the code and the measured files: the settings template
# and README's settings table, model summary and benchmark table (tests check they agree).
docs: $(VENV)/.installed-run
	$(PY) production_runner.py config-template --output config_template.env
	$(PY) -m amulet_ai.ops.readme_blocks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
