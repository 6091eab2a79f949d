# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DISTRIBUTIONS := -e '.[dev]' -e plugins/hitl -e integrations/generic_hitl
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck clean

$(STAMP): pyproject.toml plugins/hitl/pyproject.toml integrations/generic_hitl/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("patchwire needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(DISTRIBUTIONS)
	touch $(STAMP)

# Until `patchwire demo` (the agent desk and the full handoff) lands, the demo is the example
# chat agent: open http://127.0.0.1:8080/webchat and talk to it.
demo: $(STAMP)
	$(BIN)/patchwire dev examples/chat-agent

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/mypy
	$(BIN)/ruff check .

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
