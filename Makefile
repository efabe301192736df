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

## bench: every benchmark (docs/benchmarks.md): per-frame costs, turn-taking, local-model
## latency, then concurrent calls 1..1000 (stops at the first level that breaks). ~25 minutes.
BENCH_CALLS ?= 1,10,100,500,1000
BENCH_DURATION_S ?= 30
bench: deps build models
	$(CARGO) bench -p bench --bench per_frame -- --warm-up-time 1 --measurement-time 3 --noplot | tee docs/benchmarks/per_frame.txt
	$(BIN) bench turns
	$(BIN) bench local --questions 12
	$(BIN) bench load --calls $(BENCH_CALLS) --duration-s $(BENCH_DURATION_S)

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
