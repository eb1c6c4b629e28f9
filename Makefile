# The front door. `make study` then `make test` on a fresh machine (Python >= 3.11, make).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= quick
# The Jupyter kernel of this environment, named by every notebook (papermill, nbval and JupyterLab use it)
KERNEL := minilm-pairings
PAIRING ?=
# Runs at once (python -m pairings run --jobs): the quick profile's short runs two at a time, each with half the
# cores; the long profiles one at a time, with a live progress bar each
JOBS ?= $(if $(filter quick,$(PROFILE)),2,1)
# Exact versions of every dependency (Linux x86_64, Python 3.11.7, test extra); `make lock` writes it with uv.
LOCK   := requirements.lock
# Optional extras: `make setup EXTRAS=ray` adds the Ray executor, pinned in requirements-ray.lock
EXTRAS ?=
RAY_LOCK := requirements-ray.lock
UV     ?= uv
# A torch wheel that pip finds without any index (the CPU build on this workplace's disk) is taken
# when there is one; elsewhere the lock's torch comes from PyPI's default build (CUDA on Linux), as usual.
LOCAL_TORCH ?= $(shell grep -m1 '^torch==' $(LOCK))

# nbval re-executes the committed quick notebooks and compares their checked outputs. `make test` takes the
# seed pairings' own (but greetings-mnrl's: tests/slow/test_reliability.py has just re-run it and compared its
# record metric by metric) and the summary; `make test-extended` every variant's (the grid's cells, the ablations,
# the head fitted first). CI runs both.
NBVAL_VARIANTS = $(sort $(wildcard reports/quick/*.*.ipynb))
NBVAL_CORE = $(filter-out $(NBVAL_VARIANTS) reports/quick/greetings-mnrl.ipynb,$(sort $(wildcard reports/quick/*.ipynb)))
NBVAL = HF_HUB_OFFLINE=1 $(PY) -m pytest --nbval-lax --nbval-sanitize-with tests/nbval-sanitize.cfg --nbval-cell-timeout=1200 -p no:cacheprovider
# tests/slow/ files of the extended tier: the executors that run several notebooks at once
EXTENDED_TESTS = tests/slow/test_ray.py tests/slow/test_jobs.py

.PHONY: help study test test-extended test-fast lint setup lock bench lab clean-venv

## List the targets
help:
	@awk '/^## /{doc=substr($$0, 4); next} /^[a-z-]+:/{if (doc) printf "  make %-10s %s\n", substr($$1, 1, length($$1) - 1), doc; doc=""}' $(MAKEFILE_LIST)
	@echo "Variables (make study PROFILE=local PAIRING=snli-softmax JOBS=1):"
	@echo "  PROFILE    quick (default), local or seed: the params/<profile>/ a study runs"
	@echo "  PAIRING    one pairing with its variants, or PAIRING.VARIANT (default: every pairing)"
	@echo "  JOBS       runs at once on this machine (default: 2 for quick, else 1)"
	@echo "  EXTRAS     make setup EXTRAS=ray adds the Ray executor"

$(VENV)/.installed: pyproject.toml $(LOCK) Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-index --no-deps "$(LOCAL_TORCH)" 2>/dev/null || true
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q -e . --no-deps
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "$(KERNEL) (.venv)" >/dev/null
	mkdir -p $(VENV)/share/jupyter/lab/settings
	echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
	  > $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

$(VENV)/.installed-ray: $(VENV)/.installed $(RAY_LOCK)
	$(PY) -m pip install -q -r $(RAY_LOCK)
	touch $@

## Create .venv with the locked versions (a local CPU torch wheel first, when there is one), this project and its kernel; EXTRAS=ray adds Ray
setup: $(VENV)/.installed $(if $(filter ray,$(EXTRAS)),$(VENV)/.installed-ray)

## Re-resolve requirements.lock (and requirements-ray.lock within it) from pyproject.toml with uv (pip install uv)
lock:
	$(UV) pip compile -q pyproject.toml --extra test --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 --excludes lock-excludes.txt --custom-compile-command "make lock" -o $(LOCK)
	$(UV) pip compile -q pyproject.toml --extra ray -c $(LOCK) --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 --excludes lock-excludes.txt --custom-compile-command "make lock" -o $(RAY_LOCK)

## Run every pairing notebook of a profile with papermill and render reports/<profile>/
study: setup
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE-1} $(PY) -m pairings run --profile $(PROFILE) --jobs $(JOBS) $(if $(PAIRING),--pairing $(PAIRING))

## The tests a change must pass: unit tests, slow tests (training, SIGKILL, Chromium, reproduce), nbval of the seed pairings
test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest tests $(addprefix --ignore=,$(EXTENDED_TESTS))
	$(NBVAL) $(NBVAL_CORE)

## The extended tier (CI runs it after make test): the Ray and --jobs executors, nbval of every variant's notebook
test-extended: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(EXTENDED_TESTS)
	$(NBVAL) $(NBVAL_VARIANTS)

## The fast unit tests only (no training, no browser, no nbval): for every edit
test-fast: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider tests/unit

## ruff over the library, the tests and the benchmarks
lint: setup
	$(VENV)/bin/ruff check lib tests benchmarks

## Time the plain trainer against the study's path for every recipe (benchmarks/results/)
bench: setup
	$(PY) -m benchmarks.run

## Open JupyterLab at the project root (notebooks/ to run, reports/ to read) with the project's kernel
lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root,)

## Remove .venv
clean-venv:
	rm -rf $(VENV)
