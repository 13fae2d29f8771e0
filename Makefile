# vertex-batch-queue: `make setup` once, then `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGES := vbq producers workers subscribers

.PHONY: setup test lint typecheck unit integration chaos demo bench clean compose-check

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

test: lint typecheck compose-check
	$(PY) -m pytest tests -q -p no:cacheprovider -n 2 --dist loadgroup -m "not chaos and not slow"

# Validates docker-compose.yml against the Compose schema (no Docker engine needed). Installs
# Debian's docker-compose (v1.29, works offline) when missing; CI runs as root on a fresh clone.
compose-check:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing docker-compose (Debian package) for the compose check"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }
	docker-compose -f docker-compose.yml config -q
	@echo "docker-compose.yml: valid"

chaos:
	$(PY) -m pytest tests/chaos -q -p no:cacheprovider -m chaos

demo:
	$(VENV)/bin/vbq demo

bench:
	$(PY) -m ops.bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
