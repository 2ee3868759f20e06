# Two commands for a fresh machine (see README): `make demo` and `make test`.
# Each installs what is missing: the Python venv and the npm packages (anvil binary, real
# Uniswap V2 artifacts, Chart.js for the dashboard; pinned by package-lock.json); `make test` also
# Debian's Chromium for the browser tests. The venv is pinned by three locks:
# requirements/runtime.lock (what the keeper runs), requirements/ape.lock (ape, vyper),
# requirements/dev.lock (pytest, hypothesis, ruff, mypy, import-linter, playwright) and requirements/backtest.lock
# (matplotlib, Dask); `make setup` installs all four, `make install` the runtime alone (a VPS: see docs/vps.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
NPM_STAMP := node_modules/.installed
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
LOCKS := requirements/runtime.lock requirements/ape.lock requirements/dev.lock requirements/backtest.lock

.PHONY: demo test test-deep test-slow bench lint typecheck world clean-world setup install compile contracts

# ape-vyper finds compilers through vvm, which would download them: point it at the pinned
# vyper from requirements/ape.lock instead, so `ape compile` works offline.
VVM_DIR := .cache/vvm
VYPER_VERSION := 0.4.3
VVM_STAMP := $(VVM_DIR)/vyper-$(VYPER_VERSION)

# everything: the demo, the tests, lint, ape
setup: $(PY_STAMP) $(NPM_STAMP) $(VVM_STAMP)

# the keeper's runtime alone (no ape, no vyper, no dev tools): what a VPS runs
install: $(RUNTIME_STAMP)

$(VVM_STAMP): $(PY_STAMP)
	mkdir -p $(VVM_DIR)
	ln -sf "$(abspath $(BIN))/vyper" $@

$(PY_STAMP): pyproject.toml $(LOCKS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) $(foreach lock,$(LOCKS),-r $(lock))
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

$(RUNTIME_STAMP): pyproject.toml requirements/runtime.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements/runtime.lock
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

# PancakeSwap's original V2 fork (a 20 bps pair: the tests' pair of another fee), its build
# artifacts only: the package's own dependencies (truffle) cannot install offline, so its
# tarball is fetched from the registry, checked against this SHA-512 and unpacked
PANCAKE_CORE := @pancakeswap-libs/pancake-swap-core@0.1.0
PANCAKE_CORE_TGZ := .cache/npm/pancakeswap-libs-pancake-swap-core-0.1.0.tgz
PANCAKE_CORE_SHA512 := da36220f511cdf101b3f82536bf3b3ca5c74c48e15c02edd8829b96a4e00b46ac84617d12d26a7699490755a4b8a0527205b3399aff89d55adb7772ea783e8c7

$(NPM_STAMP): package.json package-lock.json Makefile
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p .cache/npm node_modules/@pancakeswap-libs/pancake-swap-core
	test -f $(PANCAKE_CORE_TGZ) || (cd .cache/npm && npm pack --silent $(PANCAKE_CORE) >/dev/null)
	echo "$(PANCAKE_CORE_SHA512)  $(PANCAKE_CORE_TGZ)" | sha512sum --check --quiet
	tar -xzf $(PANCAKE_CORE_TGZ) --strip-components=1 -C node_modules/@pancakeswap-libs/pancake-swap-core
	touch $@

demo: setup
	$(BIN)/ammkeeper demo

test: setup $(CHROMIUM)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# the dashboard's browser tests drive Debian's Chromium (Playwright cannot download its own here):
# installed from the Debian packages when missing (as root, or through sudo)
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
		|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium)

# random exploration at the `thorough` profile (3,000 examples a property); pin each find with @example
test-deep: setup $(CHROMIUM)
	HYPOTHESIS_PROFILE=thorough CHAIN_EXAMPLES=200 $(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/read_path.py
	$(BIN)/python benchmarks/gas.py
	$(BIN)/python benchmarks/planner.py
	$(BIN)/python benchmarks/keeper.py
	$(BIN)/python benchmarks/runtime.py
	$(BIN)/python benchmarks/stolen_key.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/tax.py
	$(BIN)/python benchmarks/dashboard.py

lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check bot strategies anvil scripts tests benchmarks
	$(BIN)/ruff format --check bot strategies anvil scripts tests benchmarks

typecheck: setup
	$(BIN)/mypy

compile: setup
	VVM_BINARY_PATH="$(abspath $(VVM_DIR))" $(BIN)/ape compile

# regenerate the compiled contracts the package ships (bot/chain/compiled/) with the pinned vyper;
# tests/unit/test_compiled_contracts.py fails until they match contracts/*.vy
contracts: setup
	$(BIN)/python -m bot.chain.contracts

world: setup
	$(BIN)/ammkeeper world --rebuild

clean-world:
	rm -rf .cache/world
