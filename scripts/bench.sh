#!/usr/bin/env bash
# The New Year burst at a few sizes, and the batch_size × flush_interval sweep, against a release
# server on a fresh temporary data directory on 127.0.0.1. Prints markdown tables; the full JSON
# reports stay in the temporary directory it names. Bounded: every load test has a deadline.
#
#   scripts/bench.sh            sizes + sweep
#   scripts/bench.sh sizes      only the sizes
#   scripts/bench.sh sweep      only the sweep
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what="${1:-all}"
port=3900
url="http://127.0.0.1:${port}"
work="$(mktemp -d /tmp/minitalk-bench-XXXXXX)"
server_pid=""

cargo build --release -q -p server -p loadtest
server=target/release/minitalk
loadtest=target/release/minitalk-loadtest

stop_server() {
    if [ -n "${server_pid}" ]; then
        kill -TERM "${server_pid}" 2>/dev/null || true
        wait "${server_pid}" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# start_server DATA_DIR [flags…]: starts the server and waits until it answers.
start_server() {
    local data="$1"; shift
    LEPTOS_OUTPUT_NAME=minitalk RUST_LOG=warn "${server}" --addr "127.0.0.1:${port}" \
        --data-dir "${data}" "$@" >>"${work}/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        curl -fsS "${url}/api/stats" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server did not start; see ${work}/server.log" >&2
    exit 1
}

# burst NAME USERS [loadtest flags…]: one load test run, its JSON report in ${work}/NAME.json.
burst() {
    local name="$1" users="$2"; shift 2
    local rooms=$(( users / 10 > 0 ? users / 10 : 1 ))
    "${loadtest}" --url "${url}" --users "${users}" --rooms "${rooms}" --messages 20 \
        --deadline-secs 240 --json "${work}/${name}.json" "$@" >"${work}/${name}.txt" 2>&1 ||
        echo "(run ${name} reported a failure; see ${work}/${name}.txt)" >&2
}

table() {
    python3 - "${work}" "$@" <<'PY'
import json, sys, os
work, names = sys.argv[1], sys.argv[2:]
print("| run | acked/s | deliveries/s | ack p50 / p99 ms | delivery p50 / p99 ms | errors | lost / dup / order | verdict |")
print("|---|---:|---:|---:|---:|---|---:|---|")
for name in names:
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        print(f"| {name} | – | – | – | – | – | – | no report |"); continue
    r = json.load(open(path))
    ok = not r["timed_out"] and r["lost"] == r["duplicates"] == r["out_of_order"] == r["history_missing"] == 0
    print(f"| {name} | {r['acked_per_sec']:.0f} | {r['deliveries_per_sec']:.0f} | "
          f"{r['ack_ms']['p50']:.1f} / {r['ack_ms']['p99']:.1f} | {r['delivery_ms']['p50']:.1f} / {r['delivery_ms']['p99']:.1f} | "
          f"{r['errors'] or '-'} | {r['lost']} / {r['duplicates']} / {r['out_of_order']} | {'PASS' if ok else 'FAIL'} |")
PY
}

echo "reports: ${work}"
if [ "${what}" = all ] || [ "${what}" = sizes ]; then
    start_server "${work}/data-sizes"
    names=()
    for users in 200 1000 2000; do
        burst "users${users}" "${users}"
        names+=("users${users}")
    done
    stop_server
    echo; echo "### Burst sizes (20 messages per user, 10 users per room, defaults)"; echo
    table "${names[@]}"
fi

if [ "${what}" = all ] || [ "${what}" = sweep ]; then
    names=()
    for batch in 1 10 100 1000; do
        for interval in 0 5 50; do
            start_server "${work}/data-sweep" --batch-size "${batch}" --flush-interval-ms "${interval}"
            burst "b${batch}-i${interval}" 1000
            names+=("b${batch}-i${interval}")
            stop_server
        done
    done
    echo; echo "### Sweep: batch_size × flush_interval_ms (1000 users × 20 messages)"; echo
    table "${names[@]}"
fi
