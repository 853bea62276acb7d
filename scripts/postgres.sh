#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests (the store's conformance suite, CI).
#
#   scripts/postgres.sh start DIR PORT   # prints postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/postgres.sh stop DIR
#
# Typical use:
#   export TEST_POSTGRES_URL="$(scripts/postgres.sh start /tmp/keygate-pg 54329)"
#   cargo test -p keygate-store
#   scripts/postgres.sh stop /tmp/keygate-pg
#
# `start` installs Debian's `postgresql` package when no PostgreSQL binaries are found (root
# only), creates a cluster in DIR/data that trusts every local connection (test data only:
# never point this at anything that matters), and starts it on 127.0.0.1:PORT with its Unix
# socket in DIR. It is idempotent: a cluster already in DIR is reused, a running one is left
# running. PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
# user the package creates; as any other user it belongs to that user.
#
# Only the URL goes to standard output; progress and errors go to standard error.
set -euo pipefail

# How long to wait for the server to accept connections.
readonly START_TIMEOUT_SECONDS=60

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: scripts/postgres.sh start DIR PORT
       scripts/postgres.sh stop DIR
EOF
    exit 2
}

# The directory holding initdb, pg_ctl and pg_isready: the newest version under Debian's
# /usr/lib/postgresql/<version>/bin, or wherever initdb is on PATH. Empty when none is found.
find_bin_dir() {
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    fi
}

install_postgres() {
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and only root can install it (apt-get install postgresql)"
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
}

# Runs a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir="$1" port="$2"
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    # The Unix socket path must fit in sun_path (107 bytes).
    (( ${#dir} + 20 < 107 )) || die "DIR path is too long for a Unix socket: $dir"

    local bin
    bin="$(find_bin_dir)"
    if [[ -z "$bin" ]]; then
        install_postgres
        bin="$(find_bin_dir)"
        [[ -n "$bin" ]] || die "PostgreSQL was installed but initdb was not found"
    fi

    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$dir"
        # The server runs as `postgres`, which must be able to reach DIR.
        runuser -u postgres -- test -w "$dir" \
            || die "user postgres cannot write to $dir (is a parent directory private, like /root?)"
    fi

    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        log "creating a cluster in $dir/data"
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >&2
    fi

    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        log "already running in $dir"
    else
        log "starting on 127.0.0.1:$port (log: $dir/log)"
        # fsync=off: a test cluster's data may be lost on a crash, and that makes it faster.
        # max_connections: each test database gets its own pool of up to 16 connections, and
        # tests run in parallel.
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t "$START_TIMEOUT_SECONDS" \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
            start >&2 || { tail -n 20 "$dir/log" >&2 || true; die "the server did not start"; }
    fi

    # pg_ctl -w already waits, but confirm that TCP connections are accepted, which is what
    # the tests use.
    local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
        (( SECONDS < deadline )) || die "the server does not accept connections on 127.0.0.1:$port"
        sleep 0.2
    done

    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir="$1"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        log "no cluster in $dir; nothing to stop"
        return 0
    fi
    local bin
    bin="$(find_bin_dir)"
    [[ -n "$bin" ]] || die "PostgreSQL binaries not found"
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    else
        log "not running in $dir"
    fi
}

case "${1:-}" in
    start)
        [[ $# == 3 ]] || usage
        start "$2" "$3"
        ;;
    stop)
        [[ $# == 2 ]] || usage
        stop "$2"
        ;;
    *)
        usage
        ;;
esac
