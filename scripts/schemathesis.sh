#!/usr/bin/env bash
# Runs schemathesis (property-based API testing, from PyPI) against a real `keygate serve`:
# every operation of the served OpenAPI document is called with generated requests, and the
# run fails on any 5xx answer (`not_a_server_error`) or any answer that its documented schema
# does not describe (`response_schema_conformance`).
#
# What it does: creates (or reuses) a virtualenv with a pinned schemathesis under
# $HOME/.cache/keygate/schemathesis-venv; builds `keygate`; starts `keygate serve` on a free
# loopback port with a throw-away data directory; creates an API token through the admin
# socket (`keygate tokens create --json`); runs `st run` with that token, then again with an
# OAuth access token (client created with `keygate oauth create`, exchanged at
# /api/v2/oauth/token); stops the server by its PID; exits non-zero on any failure.
#
# usage: scripts/schemathesis.sh            (from anywhere inside the repository)
# env:   ST_MAX_EXAMPLES  examples per operation (default 25; the run stays around a minute)
#        ST_KEYGATE_BIN   a prebuilt keygate binary (default: cargo build, target/debug/keygate)
# (Not KEYGATE_*: `keygate serve` reads every KEYGATE_* variable as configuration.)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# 4.x: the first line whose OpenAPI 3.1 support is not experimental (utoipa 5 writes 3.1).
SCHEMATHESIS_VERSION=4.32.5
VENV=${HOME}/.cache/keygate/schemathesis-venv
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-25}

step() { printf '\n==> %s\n' "$*"; }

step "schemathesis $SCHEMATHESIS_VERSION in $VENV"
if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/pip" show schemathesis 2>/dev/null | grep -qx "Version: $SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -n "${ST_KEYGATE_BIN:-}" ]; then
  KEYGATE=$ST_KEYGATE_BIN
else
  step "building keygate"
  cargo build --quiet -p keygate-cli --bin keygate
  KEYGATE=$ROOT/target/debug/keygate
fi

WORK=$(mktemp -d /tmp/keygate-st.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "starting keygate serve on a free loopback port"
# Port 0: the kernel picks a free port; the server prints `listening on http://ADDR` first.
"$KEYGATE" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/stdout" 2>"$WORK/server.log" &
SERVER_PID=$!
URL=
for _ in $(seq 300); do
  URL=$(sed -n 's/^listening on //p' "$WORK/stdout" | head -n1)
  [ -n "$URL" ] && [ -S "$WORK/data/admin.sock" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "error: keygate serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "error: keygate serve did not start within 30 s" >&2; exit 1; }
echo "server at $URL (pid $SERVER_PID)"

step "creating an API token through the admin socket"
TOKEN=$("$KEYGATE" --data-dir "$WORK/data" tokens create --json --description schemathesis |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

run_st() { # $1: who, $2: bearer token
  step "st run $URL/api/v2/openapi.json as $1 (max $MAX_EXAMPLES examples per operation)"
  # Throw-away credentials of a throw-away server, so passing them in argv is harmless here.
  "$VENV/bin/st" run "$URL/api/v2/openapi.json" \
    --header "Authorization: Bearer $2" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" \
    --workers 2 \
    --no-color
}

status=0
run_st "a user's API token" "$TOKEN" || status=$?

step "creating an OAuth client (scope all, tag:ci) and exchanging it for an access token"
CLIENT_SECRET=$("$KEYGATE" --data-dir "$WORK/data" oauth create --scopes all --tags tag:ci --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
ACCESS=$(URL=$URL CLIENT_SECRET=$CLIENT_SECRET python3 -c '
import json, os, urllib.parse, urllib.request
form = urllib.parse.urlencode({"grant_type": "client_credentials",
                               "client_secret": os.environ["CLIENT_SECRET"]}).encode()
with urllib.request.urlopen(os.environ["URL"] + "/api/v2/oauth/token", form) as r:
    print(json.load(r)["access_token"])')
run_st "an OAuth access token" "$ACCESS" || status=$?

if [ "$status" != 0 ]; then
  echo "error: schemathesis found problems (exit $status); server log: last lines" >&2
  tail -n 40 "$WORK/server.log" >&2
fi
exit "$status"
