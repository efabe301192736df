# callpilot — the two commands: `make run` and `make test`.
# Both install what is missing (Debian packages, local model packages), build, then run.

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
# Where local models live. CI points this at a cache folder outside the clone.
CALLPILOT_MODELS_DIR ?= $(CURDIR)/models
export CALLPILOT_MODELS_DIR
BIN := $(CARGO_TARGET_DIR)/release/callpilot

.PHONY: run test deps build models lint fmt clean-models bench

## run: install what is missing, build, and serve the demo agent on 127.0.0.1:8080
run: deps build models
	$(BIN) serve

## test: install what is missing, build, and run every test (unit, protocol vectors, end-to-end)
test: deps build models
	$(CARGO) fmt --all -- --check
	$(CARGO) test --release --workspace --no-fail-fast
	bash scripts/with-postgres.sh bash -c '$(CARGO) test --release -p store -p dialer && $(CARGO) test --release -p callpilot --test campaign_call postgres' 
	bash scripts/web-tests.sh

## lint: clippy with warnings as errors
lint:
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

deps:
	@bash scripts/install-system-deps.sh

build:
	$(CARGO) build --release --workspace --bins

models: build
	$(BIN) models install

fmt:
	$(CARGO) fmt --all

clean-models:
	rm -rf "$(CALLPILOT_MODELS_DIR)"
