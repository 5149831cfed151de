# The two commands of the quickstart: `make install`, then `make test`.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test lint bench demo

install:  ## Install kubeloop with its dev tools, helm, promtool, checkov, and the test control plane (built once from Go modules)
	$(PIP) install -e ".[dev]"
	$(PYTHON) -m kubeloop.devtools install

test: lint  ## Lint, then run the whole test suite (unit, e2e with real servers, chart validation)
	$(PYTHON) -m pytest

lint:  ## ruff; mypy --strict on platform/, serving/ and components/; the import contracts (lint-imports)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m kubeloop.devtools source-tree
	$(PYTHON) -m mypy
	$(PYTHON) -m kubeloop.devtools lint-imports

bench:  ## Run every benchmark in bench/ and print the figures (installs wrk first)
	$(PYTHON) -m kubeloop.devtools install-bench
	for b in bench/bench_*.py; do $(PYTHON) $$b || exit 1; done

demo:
	kubeloop demo
