#!/usr/bin/env bash
# Installs what building and testing Minitalk needs beyond the machine's Rust toolchain and Node.js:
# the wasm32 target, cargo-leptos, the wasm-bindgen CLI matching Cargo.lock, Debian's Chromium and
# PostgreSQL, and the end2end npm packages (Playwright, and binaryen's wasm-opt that cargo-leptos runs).
#
# Why a script: nothing installed by hand survives onto a new machine or CI, and this machine can only
# reach package registries, so every tool comes from crates.io, npm or Debian, never a download at run time
# (hence cargo-leptos's `no_downloads` feature, and Chromium from apt instead of `playwright install`).
#
# Idempotent: each step checks first and is skipped when already satisfied, printing nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_BIN="${HOME}/.cargo/bin"
CARGO_LEPTOS_VERSION="0.3.10"
caller_path="${PATH}"
export PATH="${CARGO_BIN}:${PWD}/end2end/node_modules/.bin:${PATH}"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

command -v cargo >/dev/null 2>&1 || die "cargo not found (expected the rustup toolchain in ${CARGO_BIN})"
command -v rustup >/dev/null 2>&1 || die "rustup not found (expected it in ${CARGO_BIN})"

# --- Rust target for the browser bundle -------------------------------------------------------------
installed_targets="$(rustup target list --installed)"
if ! grep -qx 'wasm32-unknown-unknown' <<<"${installed_targets}"; then
    say "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

# --- cargo-leptos ------------------------------------------------------------------------------------
# `no_downloads`: use wasm-opt and wasm-bindgen from PATH instead of fetching binaries from GitHub.
leptos_version="$(cargo leptos --version 2>/dev/null || true)"
if ! grep -Eq "(^|[[:space:]])v?${CARGO_LEPTOS_VERSION//./\\.}([[:space:]]|$)" <<<"${leptos_version}"; then
    say "installing cargo-leptos ${CARGO_LEPTOS_VERSION} (compiles from source: ~20 min on 2 cores)"
    cargo install cargo-leptos --locked --features no_downloads --version "${CARGO_LEPTOS_VERSION}"
fi

# --- wasm-bindgen CLI --------------------------------------------------------------------------------
# It must be exactly the wasm-bindgen crate version in Cargo.lock, or the generated JS glue will not match.
mapfile -t bindgen_versions < <(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = /         { name = $3 }
    /^version = / && name == "\"wasm-bindgen\"" { v = $3; gsub(/"/, "", v); print v }
' Cargo.lock)
[ "${#bindgen_versions[@]}" -eq 1 ] ||
    die "expected exactly one wasm-bindgen package in Cargo.lock, found: ${bindgen_versions[*]:-none}"
bindgen_version="${bindgen_versions[0]}"
have_bindgen="$(wasm-bindgen --version 2>/dev/null || true)"
if [ "${have_bindgen}" != "wasm-bindgen ${bindgen_version}" ]; then
    say "installing wasm-bindgen-cli ${bindgen_version} to match Cargo.lock (compiles from source: ~5 min)"
    # Not --locked: the CLI's own lock file pins crates that may not build on the current toolchain.
    cargo install wasm-bindgen-cli --version "${bindgen_version}"
fi

# --- Chromium for Playwright -------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian's chromium"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
# PostgreSQL's binaries for the store's tests and a cluster (scripts/postgres.sh starts private
# clusters from them; the package's own system service is never used).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "installing Debian's postgresql"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql ||
        { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
fi
# Reactions are emoji: without a colour emoji font the screenshots show empty boxes.
if [ ! -d /usr/share/fonts/truetype/noto ] || ! ls /usr/share/fonts/truetype/noto/NotoColorEmoji*.ttf >/dev/null 2>&1; then
    say "installing Debian's colour emoji font (fonts-noto-color-emoji)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-noto-color-emoji ||
        { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-noto-color-emoji; }
fi

# --- end2end npm packages (Playwright, binaryen's wasm-opt) ------------------------------------------
command -v npm >/dev/null 2>&1 || die "npm not found (expected the machine's Node.js)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "${node_major}" -ge 20 ] || die "Node.js ${node_major} is too old: Playwright needs Node.js 20 or newer"
if [ ! -d end2end/node_modules ] ||
    [ ! -f end2end/node_modules/.package-lock.json ] ||
    [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing end2end npm packages (npm ci)"
    (cd end2end && npm ci --no-audit --no-fund)
fi

# --- the tools must now resolve from ~/.cargo/bin and end2end/node_modules/.bin -----------------------
for tool in cargo-leptos wasm-bindgen wasm-opt; do
    command -v "${tool}" >/dev/null 2>&1 || die "${tool} is still missing after bootstrap"
done
[ "$(command -v cargo-leptos)" = "${CARGO_BIN}/cargo-leptos" ] ||
    die "cargo-leptos resolves to $(command -v cargo-leptos), not ${CARGO_BIN}/cargo-leptos"
[ "$(command -v wasm-bindgen)" = "${CARGO_BIN}/wasm-bindgen" ] ||
    die "wasm-bindgen resolves to $(command -v wasm-bindgen), not ${CARGO_BIN}/wasm-bindgen"
case ":${caller_path}:" in
    *":${CARGO_BIN}:"*) ;;
    *) say "note: add ${CARGO_BIN} to PATH to use these tools outside make" ;;
esac
