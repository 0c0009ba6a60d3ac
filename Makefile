# Two commands on a bare machine: `make demo` runs the demo, `make test` runs the tests.
# Both create .venv if it is missing and install the package with what they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

COMPILED := build/compiled
SOURCES := $(shell find d_a -name '*.py') setup.py pyproject.toml

.PHONY: help demo test soak lint typecheck format docs bench install compiled clean

help:  ## this list
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

demo: $(STAMP)  ## the demo: simulator, embedded broker, a model, uploads
	$(VENV)/bin/d-a demo

# The suite runs on the pure-Python package, then its in-memory tests on the mypyc build (setup.py).
test: $(STAMP) $(COMPILED)/.built  ## the suite, then its in-memory tests on the mypyc build
	$(PY) -m pytest -q
	D_A_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED) $(VENV)/bin/pytest -q -p no:cacheprovider -m "not integration" tests/unit tests/service

# The reliability suite's long variants (tests/reliability, D_A_SOAK=1), each printing its figures.
soak: $(STAMP)  ## the reliability suite's long variants
	D_A_SOAK=1 $(PY) -m pytest -q -s -p no:cacheprovider tests/reliability

# The package with its hot modules compiled by mypyc, in $(COMPILED) (PYTHONPATH=$(COMPILED) uses it).
compiled: $(COMPILED)/.built  ## the mypyc build, in build/compiled

$(COMPILED)/.built: $(STAMP) $(SOURCES)
	rm -rf $(COMPILED) && mkdir -p $(COMPILED)
	cp -r d_a setup.py pyproject.toml README.md $(COMPILED)/
	find $(COMPILED) -name __pycache__ -prune -exec rm -rf {} +
	cd $(COMPILED) && D_A_COMPILE=1 $(abspath $(PY)) setup.py --quiet build_ext --inplace >build.log 2>&1 || (tail -30 build.log; exit 1)
	touch $@

# BENCH_FLAGS: more flags of bench_service.py, e.g. `make bench BENCH_FLAGS=--record` to keep the results.
bench: $(COMPILED)/.built  ## bench_service.py on the mypyc build
	PYTHONPATH=$(COMPILED) $(PY) benchmarks/bench_service.py $(BENCH_FLAGS)

lint: $(STAMP)  ## ruff: lint and format check
	$(VENV)/bin/ruff check d_a tests benchmarks
	$(VENV)/bin/ruff format --check d_a tests benchmarks

typecheck: $(STAMP)  ## mypy over the whole package
	$(PY) -m mypy d_a

format: $(STAMP)  ## ruff: fix what it can, then format
	$(VENV)/bin/ruff check --fix d_a tests benchmarks
	$(VENV)/bin/ruff format d_a tests benchmarks

docs: $(STAMP)  ## docs/CONFIGURATION.md, written from the config schema
	$(PY) -m d_a.config.reference > docs/CONFIGURATION.md

install: $(STAMP)  ## .venv with the package and its dev tools

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=68" wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:  ## remove .venv and the builds
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
