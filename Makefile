# Quick start: `make demo` and `make test`.  Each target creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/appion demo

# The suite runs in two parts: most tests on $(JOBS) parallel workers (one test file per
# worker at a time), then the tests marked serial alone (they restart the shared MariaDB
# server or need the single-node Slurm to themselves).  Exit status 5 means the part had
# no test to run (PYTEST_ARGS chose none of its tests).
JOBS ?= 3
test: lint
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The import rules are tests (tests/architecture); style and types are checked here.
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
