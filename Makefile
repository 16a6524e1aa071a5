# Build a SPIRAL-style benchmark. `make data` installs what it needs, then builds the run in
# spiral.yaml; `make test` runs the test suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
COQUI   := $(VENV)/.coqui-installed
RUN     ?=
ARGS    ?=

.PHONY: setup setup-coqui data test test-slow lint bench bench-tts clean os-deps

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

# Coqui TTS (tts.backend: coqui), needed by its tests. torchaudio's PyPI wheels pin another
# torch and link CUDA: install 2.11.0 without dependencies and drop its compiled libraries;
# Coqui only uses its pure-Python parts (transforms, resampling), which work on torch 2.13.0.
setup-coqui: setup $(COQUI)

$(COQUI): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,coqui]"
	$(BIN)/pip install -q --no-deps torchaudio==2.11.0
	rm -f "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
	$(BIN)/python -c "import TTS.api, torchaudio.functional"
	touch $(COQUI)

data: setup
	$(BIN)/spiral run $(if $(RUN),--run $(RUN)) $(ARGS)

test: setup-coqui
	$(BIN)/python -m pytest -q

test-slow: setup-coqui
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check pipeline tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_run.py

bench-tts: setup-coqui
	$(BIN)/python benchmarks/bench_tts.py

clean:
	rm -rf data/runs .pytest_cache .ruff_cache build *.egg-info
