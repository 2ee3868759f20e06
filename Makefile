# Two commands for a fresh machine (see README): `make demo` and `make test`.
# Each installs what is missing: the Python venv (pinned by requirements.lock) and
# the npm chain tooling (anvil binary, real Uniswap V2 artifacts, pinned by package-lock.json).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-deep test-slow bench lint typecheck world clean-world setup compile

# ape-vyper finds compilers through vvm, which would download them: point it at the pinned
# vyper from requirements.lock instead, so `ape compile` works offline.
VVM_DIR := .cache/vvm
VYPER_VERSION := 0.4.3
VVM_STAMP := $(VVM_DIR)/vyper-$(VYPER_VERSION)

setup: $(PY_STAMP) $(NPM_STAMP) $(VVM_STAMP)

$(VVM_STAMP): $(PY_STAMP)
	mkdir -p $(VVM_DIR)
	ln -sf "$(abspath $(BIN))/vyper" $@

$(PY_STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/ammkeeper demo

test: setup
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# random exploration at the `thorough` profile (3,000 examples a property); pin each find with @example
test-deep: setup
	HYPOTHESIS_PROFILE=thorough CHAIN_EXAMPLES=200 $(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/read_path.py
	$(BIN)/python benchmarks/gas.py
	$(BIN)/python benchmarks/planner.py
	$(BIN)/python benchmarks/keeper.py

lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check bot strategies anvil scripts tests benchmarks
	$(BIN)/ruff format --check bot strategies anvil scripts tests benchmarks

typecheck: setup
	$(BIN)/mypy

compile: setup
	VVM_BINARY_PATH="$(abspath $(VVM_DIR))" $(BIN)/ape compile

world: setup
	$(BIN)/ammkeeper world --rebuild

clean-world:
	rm -rf .cache/world
