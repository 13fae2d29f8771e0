# vertex-batch-queue: `make setup` once, then `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGES := vbq producers workers subscribers

.PHONY: setup test lint typecheck unit integration chaos demo bench clean

setup:
	bash ops/setup.sh

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy $(PACKAGES)

unit:
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

integration:
	$(PY) -m pytest tests/integration -q -p no:cacheprovider

test: lint typecheck
	$(PY) -m pytest tests -q -p no:cacheprovider -n 2 --dist loadgroup -m "not chaos and not slow"

chaos:
	$(PY) -m pytest tests/chaos -q -p no:cacheprovider -m chaos

demo:
	$(VENV)/bin/vbq demo

bench:
	$(PY) -m ops.bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
