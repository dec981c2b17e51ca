# Lifeline: `make run` and `make test` are all a newcomer needs (see README.md).
# Each target installs what is missing first, and only that.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Builds live outside the clone so a fresh clone (CI's, or yours) reuses earlier ones.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/lifeline/target
# wasm-opt comes from npm's binaryen (Debian's is too old: its output fails to hydrate).
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

toolchain = $(shell sed -n 's/^$(1) *= *"\([^"]*\)".*/\1/p' Leptos.toml)
CARGO_LEPTOS_VERSION := $(call toolchain,cargo-leptos)
# Finds dependencies no code uses; `make test` fails on one.
CARGO_MACHETE_VERSION := 0.9.1
WASM_TARGET := $(call toolchain,wasm-target)
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LIFELINE := $(CARGO_TARGET_DIR)/release/lifeline

.PHONY: help run test dev build bench tools test-tools test-rust test-e2e clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-11s %s\n", $$1, $$2 }'

# WhatsApp keys are sealed with LIFELINE_SECRET_KEY. When it is not set, `make run` keeps a
# key of its own outside the data folder (so a copy of the database alone opens nothing).
SECRET_KEY_FILE ?= $(HOME)/.config/lifeline/secret-key

run: build ## build in release and serve the dashboard (settings: LIFELINE_* or ARGS="--addr …")
	@if [ -z "$${LIFELINE_SECRET_KEY:-}" ]; then \
	  if [ ! -s "$(SECRET_KEY_FILE)" ]; then \
	    mkdir -p "$(dir $(SECRET_KEY_FILE))"; \
	    (umask 077; $(LIFELINE) gen-key > "$(SECRET_KEY_FILE)"); \
	    echo "make run: new secret key in $(SECRET_KEY_FILE); keep it, WhatsApp sessions need it"; \
	  fi; \
	  LIFELINE_SECRET_KEY="$$(cat "$(SECRET_KEY_FILE)")"; export LIFELINE_SECRET_KEY; \
	fi; \
	exec $(LIFELINE) serve $(ARGS)

test: tools test-tools test-rust test-e2e ## every test: Rust (all crates, SQLite and PostgreSQL) and Playwright

dev: tools ## rebuild and reload on every change (cargo leptos watch)
	cargo leptos watch

# The release build splits the dashboard's WebAssembly into the first load and a chunk per
# lazy page (--split), and compresses each file once, with brotli and gzip (--precompress).
LEPTOS_RELEASE := --release --precompress --split

# The list of hashed file names goes with the files, so an installed binary finds it.
build: tools ## release build of the server and the dashboard
	cargo leptos build $(LEPTOS_RELEASE)
	cp "$(CARGO_TARGET_DIR)/release/hash.txt" target/site/hash.txt

# The integration suite runs on SQLite and on PostgreSQL: scripts/with-postgres starts a
# throwaway PostgreSQL for it unless TEST_DATABASE_URL names one.
test-rust: test-tools ## Rust unit and integration tests (SQLite and PostgreSQL), and no unused dependency
	cargo machete
	scripts/with-postgres cargo test -p server -p app --features app/ssr

# cargo-leptos also starts a server of its own; the tests start theirs (tests/server.ts), so
# that one gets a free port and a throwaway data folder and never collides with `make run`.
# The tests of several instances share a throwaway PostgreSQL (scripts/with-postgres).
test-e2e: tools test-tools ## Playwright in Debian's Chromium against the release build
	e2e_data=$$(mktemp -d); trap 'rm -rf "$$e2e_data"' EXIT; \
	LIFELINE_ADDR=127.0.0.1:0 LIFELINE_DATA_DIR="$$e2e_data" \
	  scripts/with-postgres cargo leptos end-to-end $(LEPTOS_RELEASE)

# The dashboard's load is measured next to the last build before it was compressed, named by
# content and split (built once, in a target of its own, by scripts/bench-baseline).
BENCH_BASELINE := 0d71ca2

bench: build ## benchmarks: sessions and memory, restore, /health, /ws latency, real WhatsApp sessions, several instances, webhooks, dashboard load and bundle
	scripts/with-postgres cargo bench -p server --bench supervisor --bench http --bench ws --bench whatsapp --bench instances --bench webhooks
	scripts/bench-load $(BENCH_BASELINE)

tools: end2end/node_modules/.installed ## install the build toolchain where missing
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	@[ "$$(cargo leptos --version 2>/dev/null)" = "cargo-leptos $(CARGO_LEPTOS_VERSION)" ] || { \
	  echo "Installing cargo-leptos $(CARGO_LEPTOS_VERSION) (once; takes a while)"; \
	  cargo install cargo-leptos --locked --version $(CARGO_LEPTOS_VERSION); }
	@[ "$$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] || { \
	  echo "Installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (matches Cargo.lock)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; }

end2end/node_modules/.installed: end2end/package.json end2end/package-lock.json
	cd end2end && npm ci --no-audit --no-fund
	@touch $@

TEST_PACKAGES := $(if $(wildcard /usr/bin/chromium),,chromium) \
  $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) \
  $(if $(wildcard /usr/bin/promtool),,prometheus) \
  $(if $(shell python3 -c 'import ensurepip, venv' 2>/dev/null && echo yes),,python3-venv)

# Some tests check Lifeline's output with Python tools that are not Lifeline's own: webhook
# signatures with the Standard Webhooks library (scripts/verify-webhooks), the OpenAPI
# document with openapi-spec-validator (scripts/validate-openapi), the live API against it
# with schemathesis. They live in a venv of their own, pinned in scripts/test-requirements.txt
# and installed again when that file changes.
TEST_PYTHON_DIR := $(HOME)/.cache/lifeline/python
TEST_REQUIREMENTS := scripts/test-requirements.txt
export TEST_PYTHON := $(TEST_PYTHON_DIR)/bin/python

test-tools: ## install what the tests need where missing (Debian's Chromium, PostgreSQL, promtool, cargo-machete, Python checkers of webhooks and OpenAPI)
	@[ -z "$(strip $(TEST_PACKAGES))" ] || { \
	  echo "Installing Debian packages for the tests: $(strip $(TEST_PACKAGES))"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); }
	@[ "$$(cargo machete --version 2>/dev/null)" = "$(CARGO_MACHETE_VERSION)" ] || { \
	  echo "Installing cargo-machete $(CARGO_MACHETE_VERSION) (once)"; \
	  cargo install cargo-machete --locked --version $(CARGO_MACHETE_VERSION); }
	@stamp="$(TEST_PYTHON_DIR)/.installed-$$(sha256sum $(TEST_REQUIREMENTS) | cut -c1-16)"; \
	[ -e "$$stamp" ] || { \
	  echo "Installing the Python test tools ($(TEST_REQUIREMENTS)) into $(TEST_PYTHON_DIR)"; \
	  python3 -m venv $(TEST_PYTHON_DIR) && \
	  $(TEST_PYTHON_DIR)/bin/pip install -q --no-deps -r $(TEST_REQUIREMENTS) && \
	  touch "$$stamp"; }

clean: ## remove build output (the SQLite data in ./data stays)
	cargo clean
	rm -rf target/site end2end/test-results end2end/playwright-report
