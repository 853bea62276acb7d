#!/usr/bin/env bash
# Runs every check keygate has, on a fresh Debian machine or a developer's:
#   formatting, clippy (warnings are errors), and the whole test suite on SQLite and on a
#   real, throw-away PostgreSQL server.
#
# It installs what it needs from Debian's packages when it is missing (PostgreSQL; needs
# root for apt-get) and starts/stops the services itself. Nothing else must be running.
#
# usage: scripts/test.sh            (from anywhere inside the repository)
# env:   KEYGATE_TEST_PG_PORT       port of the throw-away PostgreSQL (default 55432)
#        KEYGATE_SKIP_LINT=1        skip fmt and clippy (for quick local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if [ "${KEYGATE_SKIP_LINT:-}" != 1 ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

step "building tests"
cargo test --workspace --locked --no-run

step "starting a throw-away PostgreSQL"
PGDIR=$(mktemp -d /tmp/keygate-pg.XXXXXX)
PGPORT=${KEYGATE_TEST_PG_PORT:-55432}
cleanup() {
  "$ROOT/scripts/postgres.sh" stop "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT
TEST_POSTGRES_URL=$("$ROOT/scripts/postgres.sh" start "$PGDIR" "$PGPORT")
export TEST_POSTGRES_URL
# With this set, a PostgreSQL test that cannot reach the server fails instead of skipping.
export TEST_REQUIRE_POSTGRES=1

step "cargo test (SQLite and PostgreSQL)"
cargo test --workspace --locked --no-fail-fast

step "official tailscaled 1.96.4 against keygate, in a loopback-only network namespace"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
  echo "error: the real-client tests need root and unshare (CI runs as root)" >&2
  exit 1
fi
command -v ip >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2; }
TSBIN=$("$ROOT/scripts/fetch-tailscale.sh")
export TSBIN
# Inside the namespace only `lo` exists: nothing a client does can leave the machine. Cargo
# runs offline there (everything was built above). tailscaled treats a machine whose only
# addresses are loopback ones as offline and never dials DERP, so `lo` also gets the RFC 5737
# documentation address 192.0.2.1/32 (nothing routes it; still loopback only).
unshare -n -- sh -c 'ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec cargo test --offline --locked -p keygate-cli --test real_tailscaled -- --ignored --test-threads=2'

step "schemathesis against the served OpenAPI document"
ST_KEYGATE_BIN="$ROOT/target/debug/keygate" "$ROOT/scripts/schemathesis.sh"

step "browser tests of the admin console (headless Chromium)"
"$ROOT/scripts/browser-tests.sh"
