# The two commands a new user needs (see README):
#   make demo   set up .venv, then run the main job on the embedded default
#   make test   set up .venv, then lint, build the docs and run the whole suite
# For the edit loop: make check (lint + the fast tier, under 2 minutes).
SHELL := /bin/bash
VENV := .venv
HOME_DIR ?= runs/demo
PYTEST_ARGS ?=
# Test files run on this many processes (pytest-xdist; a file stays on one
# process, so its module fixtures are built once), dealt in the order
# tests/conftest.py sorts them (longest first). 0 runs everything in one.
TEST_WORKERS ?= 2
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup demo test check lint docs format lock bench clean

setup:
	@bash bin/setup-venv

demo: setup
	$(VENV)/bin/vrl demo --home $(HOME_DIR)

test: setup lint docs
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The fast tier: everything but the tests marked slow or e2e.
check: setup lint
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow and not e2e" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The documentation site (mkdocs, material theme); --strict fails on a broken
# link or a page missing from the nav.
docs: setup
	$(VENV)/bin/python bin/gen-cli-reference docs/cli.md
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site 2>&1 | grep -v "^INFO" ; test $${PIPESTATUS[0]} -eq 0

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Regenerate both locks from pyproject.toml (the dev lock first; the runtime
# lock is constrained by it so the two agree on every shared pin).
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra atari --extra wandb \
	  --override overrides.txt --python $(VENV)/bin/python --custom-compile-command "make lock" \
	  -o requirements-dev.lock
	$(VENV)/bin/uv pip compile pyproject.toml -c requirements-dev.lock \
	  --override overrides.txt --python $(VENV)/bin/python --custom-compile-command "make lock" \
	  -o requirements.lock

bench: setup
	$(VENV)/bin/python bench/trainer_throughput.py
	$(VENV)/bin/python bench/image_pipeline.py
	$(VENV)/bin/python bench/serving_latency.py
	$(VENV)/bin/python bench/dqn_solve.py

clean:
	rm -rf runs bench/results site
