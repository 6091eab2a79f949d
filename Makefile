# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# `make demo` installs what the packages need to run; `make test` adds the dev tools
# (pytest, mypy, ruff, Playwright, ...) on top of the same virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DISTRIBUTIONS := -e . -e plugins/hitl -e integrations/generic_hitl \
	-e integrations/zendesk -e integrations/intercom
PYPROJECTS := pyproject.toml plugins/hitl/pyproject.toml integrations/generic_hitl/pyproject.toml \
	integrations/zendesk/pyproject.toml integrations/intercom/pyproject.toml
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck clean

$(RUNTIME): $(PYPROJECTS)
	$(PYTHON) -c 'import sys; sys.exit("patchwire needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(DISTRIBUTIONS)
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole handoff on this machine: the example support agent and the agent desk.
demo: $(RUNTIME)
	$(BIN)/patchwire demo

# Two workers (pytest-xdist): most tests wait on servers and databases, so two halve the time.
# Tests marked `alone` (the official chat client's suite, whose metadata test sends a message
# before it listens and loses the signals when its machine is too busy) run afterwards, alone.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not alone"
	$(BIN)/python -m pytest -m alone
	$(BIN)/mypy
	$(BIN)/ruff check .

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
