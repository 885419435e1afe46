# Entry points for building, running and testing Minitalk. `make test` is what CI runs (.ci/run).
# Every recipe finds cargo-leptos and wasm-bindgen in ~/.cargo/bin and wasm-opt and Playwright in
# end2end/node_modules/.bin; scripts/bootstrap.sh installs them.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)

DATA_DIR ?= ./data

# The steps of `test` depend on each other's order; never run them in parallel.
.NOTPARALLEL:
.PHONY: bootstrap run dev test lint unit e2e bench

bootstrap:
	@echo "==> bootstrap"
	bash scripts/bootstrap.sh

# Release build, served on http://127.0.0.1:3000 by default.
run: bootstrap
	cargo leptos build --release
	LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg LEPTOS_ENV=PROD \
		target/release/minitalk --data-dir $(DATA_DIR)

dev: bootstrap
	cargo leptos watch

test: bootstrap lint unit e2e

lint:
	@echo "==> cargo fmt --check"
	cargo fmt --all -- --check
	@echo "==> clippy (server, app; all targets)"
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	@echo "==> clippy (frontend, wasm32)"
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

unit:
	@echo "==> cargo test"
	cargo test --workspace --exclude frontend

e2e:
	@echo "==> cargo leptos build (debug)"
	cargo leptos build
	@echo "==> playwright"
	cd end2end && npx playwright test

# Load tests and the sweep against a release server (see BENCHMARKS.md); not part of `test`.
bench: bootstrap
	bash scripts/bench.sh
