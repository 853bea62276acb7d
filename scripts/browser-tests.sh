#!/usr/bin/env bash
# Browser tests of the admin console (tests/browser): headless Chromium, driven by
# playwright-core, against a real `keygate serve` with a fresh data directory.
#
#   scripts/browser-tests.sh
#
# It installs Debian's `chromium` when /usr/bin/chromium is missing (root only; Playwright
# downloads no browser of its own), runs `npm ci` in tests/browser, builds `keygate` (and
# `keygate-node`, which enrols a machine for the Machines page), starts
# `keygate serve` on a free loopback port with a temporary data directory, reads the setup
# link the server prints, runs `node --test`, and stops the server by its PID.
#
# As root, the server and the tests then run inside a network namespace with nothing but
# loopback (`unshare -n`), so that the machine on the Machines page is enrolled by the official
# tailscaled 1.96.4 (scripts/fetch-tailscale.sh), which must never reach the internet;
# BROWSER_TEST_NO_TAILSCALED=1 (or not being root) uses keygate's own node client instead.
#
# Screenshots of every page at phone and desktop widths land in test-artifacts/screenshots/
# (gitignored). env: BROWSER_TEST_SCREENSHOTS overrides that directory; CHROMIUM the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'browser-tests.sh: error: %s\n' "$*" >&2; exit 1; }

# The server and the CLI read KEYGATE_* variables as configuration: none may leak in.
while read -r name; do unset "$name"; done < <(env | sed -n 's/^\(KEYGATE_[A-Za-z0-9_]*\)=.*/\1/p')

# How long the server may take to print its setup link.
readonly START_TIMEOUT_SECONDS=60

if [ "${IN_NETNS:-}" != 1 ]; then
  if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    step "installing Debian's chromium"
    [ "$(id -u)" = 0 ] || die "/usr/bin/chromium is missing and only root can install it (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    step "installing Node.js"
    [ "$(id -u)" = 0 ] || die "node and npm are missing and only root can install them (apt-get install nodejs npm)"
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  fi

  step "npm ci (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts)

  step "building keygate and keygate-node"
  cargo build --locked -p keygate-cli --bin keygate -p keygate-node --bin keygate-node

  # Machines are enrolled by the official tailscaled, which runs only in a network namespace
  # that has nothing but loopback: re-run the rest of this script inside one (root only).
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ "${BROWSER_TEST_NO_TAILSCALED:-}" != 1 ]; then
    BROWSER_TEST_TSBIN=$("$ROOT/scripts/fetch-tailscale.sh")
    export BROWSER_TEST_TSBIN IN_NETNS=1
    step "re-running inside a loopback-only network namespace (official tailscaled enrols the machine)"
    exec unshare -n -- sh -c 'ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec "$0"' "$ROOT/scripts/browser-tests.sh"
  fi
fi
TARGET=$(cargo metadata --offline --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
BIN=$TARGET/debug/keygate
NODE_BIN=$TARGET/debug/keygate-node
[ -x "$BIN" ] && [ -x "$NODE_BIN" ] || die "the binaries are not in $TARGET/debug"

# Short: the admin socket's path must stay under the kernel's 107-byte limit.
DATA=$(mktemp -d /tmp/kg-browser.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

step "starting keygate serve"
RUST_LOG=warn "$BIN" --data-dir "$DATA" serve --listen 127.0.0.1:0 \
  >"$DATA/stdout" 2>"$DATA/stderr" &
SERVER_PID=$!

URL= LINK=
for _ in $(seq $((START_TIMEOUT_SECONDS * 10))); do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/stderr" >&2; die "keygate serve exited"; }
  URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$DATA/stdout" | head -n 1)
  LINK=$(grep -o 'http://[^ ]*/console/setup?token=[0-9a-f]*' "$DATA/stdout" | head -n 1 || true)
  [ -n "$URL" ] && [ -n "$LINK" ] && break
  sleep 0.1
done
[ -n "$URL" ] && [ -n "$LINK" ] || { cat "$DATA/stdout" "$DATA/stderr" >&2; die "no setup link within ${START_TIMEOUT_SECONDS}s"; }
echo "server: $URL (pid $SERVER_PID)"

step "node --test (tests/browser)"
mkdir -p "${BROWSER_TEST_SCREENSHOTS:-$ROOT/test-artifacts/screenshots}"
status=0
(
  cd tests/browser
  BROWSER_TEST_URL=$URL BROWSER_TEST_SETUP_LINK=$LINK BROWSER_TEST_KEYGATE=$BIN BROWSER_TEST_DATA_DIR=$DATA \
    BROWSER_TEST_NODE=$NODE_BIN BROWSER_TEST_TSBIN=${BROWSER_TEST_TSBIN:-} \
    node --test --test-concurrency=1
) || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log (stderr) ---" >&2
  tail -n 50 "$DATA/stderr" >&2
fi
echo "screenshots: ${BROWSER_TEST_SCREENSHOTS:-$ROOT/test-artifacts/screenshots}"
exit "$status"
