# dcai: one-line targets. `make demo` and `make test` create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN ?= runs/demo
JOB ?= ingest
ARGS ?=
# the job's interpreter: this venv's python for a local head; plain `python` on a cluster image
JOB_PYTHON ?= $(abspath $(BIN))/python
# One machine: bind every Ray service to 127.0.0.1. A real cluster leaves this unset.
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER ?= 0
# Ray's token authentication stays on; clients read the head's token from ~/.ray/auth_token.
export RAY_AUTH_MODE ?= token

.PHONY: venv demo test test-fast test-all lint bench ray-up ray-down cluster-up cluster-down submit tf-check clean

# torch/torchvision pinned here (this machine serves these two from local disk); pyproject keeps ranges.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1 && $(BIN)/pip install -q -e '.[dev]' && touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/python -m dcai.demo --workdir $(RUN)

test: venv
	$(BIN)/python -m pytest -q -m "not gpu" --durations=25

# the edit loop: unit tests only (no Ray), the slow ones left out; `make test` is what CI runs
test-fast: venv
	$(BIN)/python -m pytest -q tests/unit -m "not slow and not gpu"

lint: venv
	$(BIN)/ruff check dcai ray_jobs tests bench && $(BIN)/ruff format --check dcai ray_jobs tests bench && $(BIN)/mypy

bench: venv
	$(BIN)/python -m bench.ingest && $(BIN)/python -m bench.evaluate && $(BIN)/python -m bench.dedup && $(BIN)/python -m bench.dedup_speed --n 9000 --scaling

# this checkout's own head: free ports, its own temp dir, address in runs/.ray/head.json (dcai/localray.py);
# ray-down stops only that head (`ray stop` would stop every Ray on the host)
ray-up: venv
	$(BIN)/python -m dcai.localray up

ray-down: venv
	$(BIN)/python -m dcai.localray down

# a head and two worker nodes on 127.0.0.1 (own temp dirs, 1 CPU each, token auth): tests/local_cluster.py
cluster-up: venv
	$(BIN)/python -m tests.local_cluster up --workers 2 --dir /tmp/dcai-cluster

cluster-down: venv
	$(BIN)/python -m tests.local_cluster down --dir /tmp/dcai-cluster

submit: venv
	ADDR=$$($(BIN)/python -m dcai.localray dashboard) && $(BIN)/ray job submit --address $$ADDR --working-dir . -- $(JOB_PYTHON) ray_jobs/$(JOB).py $(ARGS)

tf-check: venv
	bash tests/tf/run.sh

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
