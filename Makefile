# The study's commands. `make all` = the main job, `make test` = the tests (what .ci/run calls).
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= smoke
ARGS    ?=

.PHONY: all test unit nbval cpu full lab bench clean-notebooks venv

all: $(STAMP)                      ## main job: every notebook, smoke profile, HTML reports + index
	$(BIN)/python -m fer_lib.reproduce --profile $(PROFILE) $(ARGS)

test: $(STAMP)                     ## unit tests + nbval over every notebook (smoke profile)
	$(BIN)/python -m pytest -q tests
	$(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

venv: $(STAMP)

# torch/torchvision first and pinned: this machine serves them from disk (the CPU-only 2.13 wheel breaks
# torchvision). facenet-pytorch pins old torch/numpy, so it goes in without its dependencies.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps facenet-pytorch==2.6.0
	touch $(STAMP)

cpu: $(STAMP)                      ## every notebook on the real data, CPU budgets (FER_DATA_ROOT or ../shared/data)
	$(BIN)/python -m fer_lib.reproduce --profile cpu $(ARGS)

full: $(STAMP)                     ## the papers' own budgets; meant for a GPU
	$(BIN)/python -m fer_lib.reproduce --profile full --device cuda $(ARGS)

lab: $(STAMP)                      ## JupyterLab in the project's environment, fer_lib importable
	$(BIN)/python -m pip install -q -e ".[lab]"
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)                    ## throughput benchmarks (print figures and ratios)
	$(BIN)/python bench/train_throughput.py

clean-notebooks: $(STAMP)          ## strip outputs except # NBVAL_CHECK_OUTPUT cells (refresh them first)
	$(BIN)/python -m fer_lib.nbclean --refresh notebooks/*.ipynb
