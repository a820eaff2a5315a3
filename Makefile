# The study's commands. `make all` = the main job, `make test` = the tests (what .ci/run calls).
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= smoke
ARGS    ?=

.PHONY: all test unit nbval cpu full lab bench clean-notebooks venv

# torch's OpenMP threads spin while they wait; on a small shared machine sleeping ones are much faster
# (a smoke epoch: 9.3 s instead of 28 s with another process running). Results do not change.
export OMP_WAIT_POLICY ?= PASSIVE

# `make all JOBS=2` runs two notebooks side by side (a machine with cores to spare); the default is one at a time:
# on this project's 2-core machines two notebooks would mean two trainings sharing the cores, and the timings the
# notebooks print (ms per face, fps, images/s) would measure each other.
JOBS    ?= 1

all: $(STAMP)                      ## main job: every notebook, smoke profile, HTML reports + index
	$(BIN)/python -m fer_lib.reproduce --profile $(PROFILE) --jobs $(JOBS) $(ARGS)

test: $(STAMP)                     ## unit tests + nbval over every notebook (smoke profile)
	$(BIN)/python -m pytest -q tests
	$(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

venv: $(STAMP)

# One pip pass for torch/torchvision (pinned: this machine serves them from disk, and the CPU-only 2.13 wheel
# there breaks torchvision) and the project; facenet-pytorch pins old torch/numpy, so it goes in without its
# dependencies. Speed: no pip self-upgrade, no version check, and --no-compile (byte-compiling every file of
# torch & co. costs ~a minute on 2 cores; Python compiles what a notebook imports, once, on first use).
PIP := $(BIN)/python -m pip install -q --no-compile --disable-pip-version-check
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) torch==2.14.1 torchvision==0.29.1 -e ".[test]"
	$(PIP) --no-deps facenet-pytorch==2.6.0
	touch $(STAMP)

cpu: $(STAMP)                      ## every notebook on the real data, CPU budgets (FER_DATA_ROOT or ../shared/data)
	$(BIN)/python -m fer_lib.reproduce --profile cpu $(ARGS)

full: $(STAMP)                     ## the papers' own budgets; meant for a GPU
	$(BIN)/python -m fer_lib.reproduce --profile full --device cuda $(ARGS)

# Jupyter refuses to start as root unless told (root is the usual user in containers).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)                      ## JupyterLab in the project's environment, fer_lib importable
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(PIP) -e ".[lab]"
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

bench: $(STAMP)                    ## throughput benchmarks (print figures and ratios)
	$(BIN)/python bench/train_throughput.py

clean-notebooks: $(STAMP)          ## strip outputs except # NBVAL_CHECK_OUTPUT cells (refresh them first)
	$(BIN)/python -m fer_lib.nbclean --refresh notebooks/*.ipynb
