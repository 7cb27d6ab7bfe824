# Two commands on a fresh machine (README): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JARS   := .cache/jars/MANIFEST.json

.PHONY: setup demo test test-fast bench clean
setup: $(STAMP) $(JARS)

# uv installs the same pinned packages as pip, with parallel downloads: a fresh machine's
# install takes about half as long (docs/benchmarks.md).
UV_VERSION := 0.13.9

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

$(JARS): jars/pom.xml $(STAMP)
	$(BIN)/python -m greenlink.core.jars fetch

# Whole pipeline on the embedded default: local Spark, ./warehouse, a generated demo world.
demo: setup
	$(BIN)/greenlink run --all --demo

test: setup
	$(BIN)/python -m pytest -q --durations=30

clean:
	rm -rf warehouse reports demo .pytest_cache
