# Build a SPIRAL-style benchmark. `make data` installs what it needs, then builds the run in
# spiral.yaml; `make test` runs the test suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RUN     ?=
ARGS    ?=

.PHONY: setup data test test-slow lint bench bench-validate audit clean os-deps

setup: os-deps $(STAMP)

os-deps:
	@missing=""; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing OS packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "error: missing OS packages:$$missing; install them, e.g. sudo apt-get install$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

data: setup
	$(BIN)/spiral run $(if $(RUN),--run $(RUN)) $(ARGS)

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check pipeline tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_run.py

bench-validate: setup
	$(BIN)/python benchmarks/bench_validate.py --build 20

audit: setup
	$(BIN)/spiral audit data/runs/$(or $(RUN),demo)/export/data.jsonl --audio data/runs/$(or $(RUN),demo)/export/wavs

clean:
	rm -rf data/runs .pytest_cache .ruff_cache build *.egg-info
