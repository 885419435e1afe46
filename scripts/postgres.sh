#!/usr/bin/env bash
# A private PostgreSQL cluster for Minitalk, from the machine's own binaries (Debian's
# `postgresql` package, which scripts/bootstrap.sh installs): never the system service.
#
#   scripts/postgres.sh start DIR PORT [WATCH_PID]   initdb DIR if it is new, start it on
#                                                    127.0.0.1:PORT; print the database URL
#   scripts/postgres.sh stop DIR                     stop it (fast shutdown)
#   scripts/postgres.sh kill DIR                     stop it at once, as a crash would
#                                                    (immediate shutdown: recovery at next start)
#
# With WATCH_PID, a watchdog stops the cluster and removes DIR once that process is gone: tests
# start a cluster this way and it goes with them, however they end.
#
# PostgreSQL refuses to run as root, so as root (CI) everything runs as the `postgres` user on a
# directory it owns. The cluster trusts connections from 127.0.0.1 only (a local cluster for tests,
# benchmarks and the README's "Run a cluster"; production uses its own PostgreSQL). Extra server
# settings go in PG_SETTINGS, e.g. PG_SETTINGS="-c fsync=off" for unit tests.
set -euo pipefail

die() { printf 'postgres.sh: %s\n' "$*" >&2; exit 1; }

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[ -x "${PG_BIN}/pg_ctl" ] || die "PostgreSQL binaries not found (run scripts/bootstrap.sh)"

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd="${1:-}"
dir="${2:-}"
[ -n "${dir}" ] || die "usage: $0 start DIR PORT [WATCH_PID] | stop DIR | kill DIR"

case "${cmd}" in
start)
    port="${3:-}"
    [ -n "${port}" ] || die "usage: $0 start DIR PORT [WATCH_PID]"
    watch="${4:-}"
    if [ ! -f "${dir}/PG_VERSION" ]; then
        mkdir -p "${dir}"
        if [ "$(id -u)" -eq 0 ]; then
            chown postgres: "${dir}"
            runuser -u postgres -- test -w "${dir}" ||
                die "the postgres user cannot reach ${dir} (make its parents searchable: chmod o+x)"
        fi
        as_owner "${PG_BIN}/initdb" -D "${dir}" -U minitalk --auth=trust -E UTF8 --locale=C.UTF-8 \
            >"${dir}.initdb.log" 2>&1 || { cat "${dir}.initdb.log" >&2; die "initdb failed"; }
        rm -f "${dir}.initdb.log"
    fi
    # The socket lives in the cluster's own directory: nothing is shared with a system service.
    # shellcheck disable=SC2086
    as_owner "${PG_BIN}/pg_ctl" -D "${dir}" -l "${dir}/server.log" -w -t 60 \
        -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 ${PG_SETTINGS:-}" start >/dev/null ||
        { tail -n 20 "${dir}/server.log" >&2; die "pg_ctl start failed"; }
    as_owner "${PG_BIN}/psql" -h 127.0.0.1 -p "${port}" -U minitalk -d postgres -qAt \
        -c "SELECT 1 FROM pg_database WHERE datname = 'minitalk'" | grep -q 1 ||
        as_owner "${PG_BIN}/createdb" -h 127.0.0.1 -p "${port}" -U minitalk minitalk
    if [ -n "${watch}" ]; then
        # Detached from the caller's pipes, so a test harness reading our output is not held.
        nohup bash -c '
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            "$0" stop "$2" >/dev/null 2>&1 || "$0" kill "$2" >/dev/null 2>&1
            rm -rf "$2"
        ' "$0" "${watch}" "${dir}" >/dev/null 2>&1 </dev/null &
    fi
    echo "postgres://minitalk@127.0.0.1:${port}/minitalk"
    ;;
stop)
    as_owner "${PG_BIN}/pg_ctl" -D "${dir}" -m fast -w -t 60 stop >/dev/null
    ;;
kill)
    as_owner "${PG_BIN}/pg_ctl" -D "${dir}" -m immediate -w -t 60 stop >/dev/null
    ;;
*)
    die "unknown command ${cmd} (start, stop or kill)"
    ;;
esac
