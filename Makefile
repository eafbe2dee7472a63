# The two commands a new user needs (see README):
#   make demo   set up .venv, then run the main job on the embedded default
#   make test   set up .venv, then lint and run the whole test suite
SHELL := /bin/bash
VENV := .venv
HOME_DIR ?= runs/demo
PYTEST_ARGS ?=
# Test files run on this many processes (pytest-xdist; a file stays on one
# process, so its module fixtures are built once). 0 runs everything in one.
TEST_WORKERS ?= 2
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup demo test lint format bench clean

setup:
	@bash bin/setup-venv

demo: setup
	$(VENV)/bin/vrl demo --home $(HOME_DIR)

test: setup lint
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(VENV)/bin/python bench/trainer_throughput.py
	$(VENV)/bin/python bench/image_pipeline.py
	$(VENV)/bin/python bench/serving_latency.py
	$(VENV)/bin/python bench/dqn_solve.py

clean:
	rm -rf runs bench/results
