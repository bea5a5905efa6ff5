# The README's contract: `make run` and `make test` work on a fresh machine and are quick the second time.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch first and alone: this exact spec takes the CPU wheel on disk; other specs pull CUDA wheels.
TORCH_SPEC := torch==2.13.0


.PHONY: run test lint setup bench devnet clean dist

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -r requirements.lock -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/potminer run

devnet: $(STAMP)
	$(VENV)/bin/potminer devnet

# The suite runs in a new random order each time (pytest-randomly), so a test that leans on another's leftovers
# fails here and not by chance later; `make test SEED=<n>` repeats an order.
ifndef SEED
SEED := $(shell $(PYTHON) -c "import random; print(random.randrange(1 << 32))")
endif

# Lint first (seconds): a formatting slip or a type error fails CI before the suite starts.
# scripts/test.py is the same entry on Windows and macOS, which have no make (the build workflow runs it).
test: $(STAMP)
	$(PY) scripts/test.py --seed $(SEED)

# ruff (lint rules and format) and mypy (strict on app/core, app/pot and app/rpc), configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Installers (see docs/PACKAGING.md): the bundle, .deb and AppImage on Linux. Build-only tools come from
# packaging/requirements-dist.txt; `run` and `test` never need them.
DIST_STAMP := $(VENV)/.dist-installed

$(DIST_STAMP): $(STAMP) packaging/requirements-dist.txt
	$(PY) -m pip install --quiet -r packaging/requirements-dist.txt
	touch $(DIST_STAMP)

dist: $(DIST_STAMP)
	PY=$(PY) sh packaging/linux/build.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
