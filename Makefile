# One task runner for humans and CI. Everything installs from this repository's own
# files into ./.venv; the Rust toolchain is the machine's (cargo must be on PATH).
#
#   make demo    install the package and run the demo on a real database directory
#   make test    install the test dependencies and run cargo test, pytest, the short
#                stress run and the loom models
#   make loom    the loom models of the commit path alone (tests/loom.rs, docs/testing.md
#                "Loom"); its first build takes a few minutes
#   make bench-engine   engine-level durability benchmarks (reopen, replay, size,
#                       always-mode commit rates); prints a markdown table
#   make bench   the benchmark suite against the published stratadb==0.6.0 (bench/README.md):
#                regenerates bench/results/; `make bench BENCH_ARGS=--quick` is a smoke run

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# cargo and maturin share one target directory, so the engine is built once per profile.
export CARGO_TARGET_DIR := $(CURDIR)/target

.PHONY: demo test install check-tools rust-test python-test stress-short loom bench-engine bench clean

check-tools:
	@command -v cargo >/dev/null || { echo "cargo (the Rust toolchain) is required: https://rustup.rs"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) (3.10 or newer) is required"; exit 1; }

$(PY): | check-tools
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Builds the extension in release mode (maturin, via pip) and installs it with its
# runtime and test dependencies from pyproject.toml.
install: $(PY)
	$(PY) -m pip install --quiet ".[test]"

demo: install
	$(PY) examples/demo.py demo-data

rust-test: check-tools
	cargo test --quiet

python-test: install
	$(PY) -m pytest -q tests/python

stress-short: check-tools
	cargo run --quiet --release -p stress -- --short --api all --python $(PY)

test: rust-test python-test stress-short loom

# --cfg loom changes every crate's build, so it gets its own target directory.
loom: check-tools
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(CURDIR)/target/loom cargo test --quiet --release -p stratadb --test loom -- --test-threads=1 --nocapture

bench-engine: check-tools
	cargo run --quiet --release -p engine-bench

# Creates bench/.venv-ours (this repository, release build) and bench/.venv-peer
# (stratadb==0.6.0) from bench/requirements.txt, then runs every workload.
BENCH_ARGS ?=
bench: check-tools
	$(PYTHON) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) target demo-data
