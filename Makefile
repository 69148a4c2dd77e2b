# Two commands matter: `make demo` and `make test`. Each installs what it needs into .venv.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
# torch and torchvision are pinned to the tested release; never let pip resolve a newer torch
# (that downloads gigabytes).
TORCH   := torch==2.14.1 torchvision==0.29.1
STAMP   := $(VENV)/.installed

.PHONY: demo test test-all bench bench-scale lint gpu-check install sandbox clean

# -qq: errors only (pip then still fails the recipe). Plain -q also prints pip's warnings about local
# index folders and setuptools' note on editable installs.
# --no-compile: pip byte-compiles every installed file on one core (a third of torch's install time).
# Where the environment sets PYTHONDONTWRITEBYTECODE, every process would compile its
# imports again (torch + diffusers: ~20 s each). The runtime writes .pyc for what it imports instead
# (`WRITE_PYC`, Python's default elsewhere): the install's import check and `make demo` itself,
# instead of compiling all 13,000 files of the runtime ahead; `make test` compiles the whole venv
# once (one `compileall -j 0` on every core), since its tests import far more.
PIP     := $(BIN)/pip install -qq --disable-pip-version-check --no-compile
WRITE_PYC := PYTHONDONTWRITEBYTECODE=
COMPILE := $(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true  # like pip: a file that does not compile is skipped
# Two stamps: `make demo` needs the runtime only; `make test` adds the dev extras (pytest,
# transformers, streamlit, accelerate, ray: about 30 s more to install) on top of it.
RT_STAMP := $(VENV)/.installed-runtime

$(RT_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH)
	$(PIP) -e . $(TORCH)
	$(WRITE_PYC) $(BIN)/python -c "import cxrbench.version, cxrbench.cli, cxrbench.runner.evaluate, cxrbench.runner.jobs, cxrbench.audit, cxrbench.baselines.classifier, cxrbench.baselines.ddpm, cxrbench.leaderboard, torch; print('cxrbench', cxrbench.version.__version__, 'torch', torch.__version__)"
	touch $(RT_STAMP)

$(STAMP): $(RT_STAMP)
	$(PIP) -e '.[dev]' $(TORCH)
	$(COMPILE)
	touch $(STAMP)

# Submission code runs only under bubblewrap (`cxrbench evaluate` refuses otherwise). Installed
# when we can (root with apt-get); elsewhere this says how, and the sandbox tests skip.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; } \
	      || echo "note: could not install bubblewrap; submission code will not run (see docs/sandbox.md)"; \
	  else echo "note: bubblewrap (bwrap) is missing: install it (sudo apt-get install bubblewrap) to run submission code"; fi; }

install: sandbox $(STAMP)

# The positive control: a sandboxed generator whose five per-seed sets take seconds, so the demo fits
# 10 minutes on 2 cores (docs/performance.md). The reference DDPM's CPU run is the next command:
# `cxrbench evaluate submissions/reference-ddpm-fast -t phantom/supplement-100`.
demo: sandbox $(RT_STAMP)
	$(WRITE_PYC) $(BIN)/cxrbench evaluate submissions/phantom-oracle -t phantom/supplement-100 --budget quick

# One BLAS/OpenMP thread per process: the models under test are tiny, and a second thread on a
# busy 2-core machine makes them several times slower (measured), not faster.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-all: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m ''

# ruff's lint rules, mypy on the whole package (strict on stats/ and results.py; pyproject lists the
# modules with typing debt), the import contracts of pyproject's [tool.importlinter], and every
# test's markers declared (--strict-markers at collection). `ruff format` is configured (`ruff format
# FILE`) but not enforced: the tree predates it, and applying it rewrites most files at once.
# grimp, import-linter's engine, follows only one portion of a namespace installed by an editable
# import hook, so the four roots go on PYTHONPATH for it.
ROOTS_PATH := benchmark:baselines:leaderboard:tasks
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	PYTHONPATH=$(ROOTS_PATH) $(BIN)/lint-imports
	$(BIN)/python -m pytest --collect-only -q -m '' >/dev/null

# The sampler table (images/s, ms/step, TFLOP/s, fraction of peak, speed-up over the study's recipe)
# is printed last; `--benchmark-json=FILE` keeps every figure (extra_info) for `pytest-benchmark compare`.
# A few minutes on 2 cores (docs/performance.md); the heavy cases are marked `scale`.
bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m 'perf and not scale' tests/perf --benchmark-columns=min,mean,rounds $(BENCH_ARGS)

# The heavy benchmarks (15-40 min on 2 cores): Ray scale-out (8 training jobs on 2 workers vs 1), the
# standard-256 recipe, full-size JPEGs, 256 px phantom films, the audit's 100k x 10k neighbours,
# planning a task in fresh processes and whole DDPM samplings with the exact noise
bench-scale: $(STAMP)
	$(BIN)/python -m pytest -q -m scale tests/perf --benchmark-columns=min,mean,rounds $(BENCH_ARGS)

# One call on a CUDA machine: the GPU tests, the sampler benchmark and the loop's host-traffic
# test, one JSON summary (gpu-check.json); < 8 min. Runs anywhere: without CUDA the GPU stages
# report "no CUDA".
gpu-check: $(STAMP)
	$(BIN)/python tools/gpu_check.py

clean:
	rm -rf $(VENV) build *.egg-info .cxrbench-cache
