#!/usr/bin/env bash
# A Minitalk cluster on this machine: a PostgreSQL of its own (scripts/postgres.sh) and several
# identical nodes on it, each on its own port with its own data directory (for its search index).
#
#   scripts/cluster.sh start [NODES]   installs what is missing, builds the release (and the
#                                      load test), starts
#                                      PostgreSQL on 127.0.0.1:5433 and NODES nodes (3) on
#                                      127.0.0.1:3001…, and waits until each is ready
#   scripts/cluster.sh stop            stops the nodes (they write what is queued), then PostgreSQL
#
# LOAD_TEST=1 lifts the per-address limits (sign-ins, sockets, room creations), as a load test
# from 127.0.0.1 needs: every simulated user comes from the same address.
#
# Everything lives in ./cluster (CLUSTER_DIR): pg/ (the database), node-PORT/ (a node's data
# directory), node-PORT.log. PG_PORT and FIRST_PORT change the ports. docs/operations.md puts a
# load balancer (nginx) in front.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir="${CLUSTER_DIR:-${PWD}/cluster}"
pg_port="${PG_PORT:-5433}"
first_port="${FIRST_PORT:-3001}"
export PATH="${HOME}/.cargo/bin:${PWD}/end2end/node_modules/.bin:${PATH}"

say() { printf 'cluster: %s\n' "$*"; }

case "${1:-}" in
start)
    nodes="${2:-3}"
    node_flags=()
    if [ -n "${LOAD_TEST:-}" ]; then
        node_flags=(--sign-ins-per-ip-per-min 0 --sign-ins-per-sec 0 --max-sockets-per-ip 0
            --rooms-per-user 1000000 --room-creations-per-hour 0)
    fi
    bash scripts/bootstrap.sh
    cargo leptos build --release
    cargo build --release -q -p loadtest
    mkdir -p "${dir}"
    # The postgres user (when we are root) must reach the database's directory.
    chmod 711 "${dir}"
    url="$(bash scripts/postgres.sh start "${dir}/pg" "${pg_port}")"
    say "PostgreSQL: ${url}"
    for i in $(seq 0 $((nodes - 1))); do
        port=$((first_port + i))
        if [ -f "${dir}/node-${port}.pid" ] && kill -0 "$(cat "${dir}/node-${port}.pid")" 2>/dev/null; then
            say "node on ${port} is running already"
            continue
        fi
        LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg LEPTOS_ENV=PROD \
            MINITALK_DATABASE_URL="${url}" \
            nohup target/release/minitalk --addr "127.0.0.1:${port}" \
            --data-dir "${dir}/node-${port}" "${node_flags[@]}" \
            >>"${dir}/node-${port}.log" 2>&1 </dev/null &
        echo $! >"${dir}/node-${port}.pid"
    done
    for i in $(seq 0 $((nodes - 1))); do
        port=$((first_port + i))
        for _ in $(seq 300); do
            curl -fsS "http://127.0.0.1:${port}/readyz" >/dev/null 2>&1 && break
            sleep 0.1
        done
        curl -fsS "http://127.0.0.1:${port}/readyz" >/dev/null ||
            { say "node ${port} is not ready; see ${dir}/node-${port}.log"; exit 1; }
        say "node ready: http://127.0.0.1:${port}"
    done
    ;;
stop)
    for pid_file in "${dir}"/node-*.pid; do
        [ -e "${pid_file}" ] || continue
        pid="$(cat "${pid_file}")"
        if kill -TERM "${pid}" 2>/dev/null; then
            # A node stops within seconds: it writes what is queued and closes its sockets.
            for _ in $(seq 300); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "${pid_file}"
    done
    if [ -f "${dir}/pg/postmaster.pid" ]; then
        bash scripts/postgres.sh stop "${dir}/pg"
    fi
    say "stopped"
    ;;
*)
    echo "usage: $0 start [NODES] | stop" >&2
    exit 2
    ;;
esac
