# Two commands (see README):  `make study`  runs the study,  `make test`  runs the tests.
# Both set up .venv first if needed; on a ready machine they install nothing.
# `make test` is the fast tier (unit tests + one tiny end-to-end run, both cores);
# `make test-all` adds the slow end-to-end runs (other datasets, data that must stop in
# stage 01); `make test-exhaustive` also runs three whole studies on degenerate data;
# `make lint` checks ruff lint and format; CI (.ci/run) runs lint and test-all.
# `make mutation` runs mutation testing (mutmut) of the decision-critical modules (slow).
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
READY  := $(VENV)/.ready
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: study test test-all test-exhaustive lint setup java mutation benchmark

study: $(READY)
	dvc repro
	@echo "Reports: $(CURDIR)/reports/index.html"

# One benchmark, every dataset (benchmark/dvc.yaml): shopsim, CDNOW, Online Retail and a
# generated foreign order export, every model under both protocols; a second run with
# nothing changed does nothing. Writes reports/benchmark.html and reports/metrics/benchmark.csv.
benchmark: $(READY)
	dvc repro benchmark/dvc.yaml
	@echo "Benchmark: $(CURDIR)/reports/benchmark.html"

test: $(READY) java
	python -m pytest -n 2 --dist loadfile -m "not slow"

test-all: $(READY) java
	python -m pytest -n 2 --dist loadfile -m "not exhaustive"

test-exhaustive: $(READY) java
	python -m pytest -n 2 --dist loadfile

# The Spark tests (tests/test_engines.py) need a Java 17+ runtime: Debian's
# openjdk-17-jre-headless is installed where Java is missing and we may (root, apt-get);
# otherwise the Spark tests skip themselves, saying why.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing openjdk-17-jre-headless for the Spark tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends openjdk-17-jre-headless >/dev/null; } \
	    || echo "Could not install Java 17: the Spark tests will be skipped"; \
	  else \
	    echo "No Java runtime (install openjdk-17-jre-headless as root): Spark tests skip"; \
	  fi; }

# Mutation testing of the decision-critical modules (table in tools/mutation.py): mutmut,
# pinned here, is installed into .venv by this target only (`make test` installs nothing).
# Prints killed/survived per module, lists survivors, writes reports/mutation.json, fails
# when a module's killed share is under MIN_KILLED. Subset: MODULES="data/split.py ...".
# MUTATION_SAMPLE=160 runs a seeded random sample of that many mutants per module (a
# killed share with a 95 % interval) where a full run takes hours (apply/scoring.py).
MUTMUT_VERSION := 3.8.1
MUTMUT_PINS    := mutmut==$(MUTMUT_VERSION) libcst==1.9.0 coverage==7.18.0 textual==8.2.8 \
                  setproctitle==1.3.8 mdit-py-plugins==0.7.0 linkify-it-py==2.2.0
MIN_KILLED     ?= 0.8
MODULES        ?=
MUTATION_JOBS  ?=
MUTATION_SAMPLE ?=

mutation: $(READY)
	@python -c 'import importlib.metadata as m; assert m.version("mutmut") == "$(MUTMUT_VERSION)"' \
	  2>/dev/null || python -m pip install --quiet $(MUTMUT_PINS)
	python tools/mutation.py --min-killed $(MIN_KILLED) --modules "$(MODULES)" \
	  $(if $(MUTATION_JOBS),--jobs $(MUTATION_JOBS)) \
	  $(if $(MUTATION_SAMPLE),--sample $(MUTATION_SAMPLE))

lint: $(READY)
	ruff check src tests notebooks benchmarks
	ruff format --check src tests notebooks benchmarks

setup: $(READY)

# The stamp depends on the pins: editing pyproject.toml or the lock reinstalls.
$(READY): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; v = sys.version_info[:3]; assert (3, 11, 5) <= v < (3, 12), "Python 3.11.5 or a later 3.11 is required (the lock pins soupsieve 4.1.3, which needs 3.11.5), found " + sys.version + "; set PYTHON=/path/to/python3.11"'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@
