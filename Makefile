# Two commands on a fresh machine (README): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JARS   := .cache/jars/MANIFEST.json

.PHONY: setup demo test test-unit clean
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

# The JVM of `make demo` and `make test`: a JDK 25 when one is installed (the test suite in two
# thirds of its JDK 17 time, the demo 7-14 % faster: docs/benchmarks.md), else JAVA_HOME or
# the `java` on the PATH (JDK 17). GREENLINK_JAVA_HOME chooses another one.
JDK25     := $(firstword $(wildcard /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/java-25-openjdk* /usr/lib/jvm/jdk-25*))
RUN_JAVA  := $(or $(GREENLINK_JAVA_HOME),$(JDK25))
JAVA_ENV  := $(if $(RUN_JAVA),JAVA_HOME=$(RUN_JAVA))

# Whole pipeline on the embedded default: local Spark, ./warehouse, a generated demo world.
demo: setup
	$(JAVA_ENV) $(BIN)/greenlink run --all --demo

# Every test: tests/unit/ and tests/integration/ (what CI runs via .ci/run).
test: setup
	$(JAVA_ENV) $(BIN)/python -m pytest -q --durations=30

# The fast tier: tests/unit/ without its tests marked slow (no generated world, no stage run, no
# test that takes seconds on purpose; docs/architecture.md "Tests").
test-unit: setup
	$(JAVA_ENV) $(BIN)/python -m pytest -q --durations=10 -m "not slow" tests/unit

clean:
	rm -rf warehouse reports demo .pytest_cache
