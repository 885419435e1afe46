#!/usr/bin/env bash
# The New Year burst at a few sizes, and the batch_size × flush_interval sweep, against a release
# server on a fresh temporary data directory on 127.0.0.1. Prints markdown tables; the full JSON
# reports stay in the temporary directory it names. Bounded: every load test has a deadline.
#
#   scripts/bench.sh              everything below
#   scripts/bench.sh sizes        2,000 users and smaller, each 3 times (the median is shown)
#   scripts/bench.sh default      the default burst only (2,000 users × 20), 3 times
#   AB_OLD=path scripts/bench.sh ab
#                                 the verdict for a change on the message path: the default burst
#                                 on an older binary and on this build, alternating, AB_PAIRS
#                                 pairs (6), each side on a fresh data directory with its accounts
#                                 made first; prints server CPU per message and acked/s per side.
#                                 AB_LOADTEST_FLAGS are given to the load test on both sides,
#                                 AB_NEW_LOADTEST_FLAGS on the new side only (e.g. --user-stream,
#                                 with AB_OLD set to this build)
#
# SERVER=path runs another server binary (an older build, for an A/B); SERVER_LIMIT_FLAGS
# replaces the flags that lift the per-address and room-creation limits (set it empty for a
# build from before those flags existed).
#   scripts/bench.sh latency      ack and delivery latency at 25,000 and 12,500 messages/s
#   scripts/bench.sh batch        batch size 1000 / 4000 / 10000 on the 2,000-user burst
#   scripts/bench.sh sweep        batch_size × flush_interval
#   scripts/bench.sh connections  10,000 connections
#   scripts/bench.sh overload     a burst 10× over the queue capacity
#   scripts/bench.sh browser      the busy-room page in Chromium (end2end/bench/), release build;
#                                 BENCH_RATES, BENCH_MESSAGES, BENCH_RUNS choose the cases
#   scripts/bench.sh cluster      1,000 users × 20 on one node on the file store, one node on
#                                 PostgreSQL and three nodes on PostgreSQL (a private cluster,
#                                 fsync on), 3 runs each, with PostgreSQL's CPU and pg_test_fsync
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what="${1:-all}"

# The browser benchmark is separate: it needs the whole site (cargo leptos), not the load test.
if [ "${what}" = browser ]; then
    export PATH="${HOME}/.cargo/bin:${PWD}/end2end/node_modules/.bin:${PATH}"
    cargo leptos build --release
    log="$(mktemp /tmp/minitalk-bench-browser-XXXXXX.log)"
    (cd end2end && MINITALK_BENCH_SERVER=../target/release/minitalk \
        npx playwright test -c bench/playwright.bench.config.ts) | tee "${log}"
    python3 end2end/bench/summary.py "${log}"
    exit 0
fi
port=3900
url="http://127.0.0.1:${port}"
work="$(mktemp -d /tmp/minitalk-bench-XXXXXX)"
server_pid=""

cargo build --release -q -p server -p loadtest
server="${SERVER:-target/release/minitalk}"
limit_flags="${SERVER_LIMIT_FLAGS---sign-ins-per-ip-per-min 0 --sign-ins-per-sec 0 --max-sockets-per-ip 0 --rooms-per-user 1000000 --room-creations-per-hour 0}"
loadtest=target/release/minitalk-loadtest

# Peak resident memory of the running server, in MiB.
server_peak_mib() {
    awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/${server_pid}/status"
}

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
    # Thousands of load-test users sign in and connect from 127.0.0.1, and one of them creates
    # every room: lift the per-address and room-creation limits.
    # shellcheck disable=SC2086 # limit_flags are words
    RUST_LOG=warn "${server}" --addr "127.0.0.1:${port}" \
        --data-dir "${data}" ${limit_flags} "$@" >>"${work}/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        curl -fsS "${url}/api/stats" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server did not start; see ${work}/server.log" >&2
    exit 1
}

# burst NAME DATA USERS MESSAGES "SERVER FLAGS" [loadtest flags…]: one load test run against a
# fresh server process on DATA (accounts are reused across runs on the same DATA); the JSON report
# goes to ${work}/NAME.json and the server's peak RSS to ${work}/NAME.rss.
burst() {
    local name="$1" data="$2" users="$3" messages="$4" flags="$5"; shift 5
    local rooms=$(( users / 10 > 0 ? users / 10 : 1 ))
    # shellcheck disable=SC2086 # flags are words
    start_server "${data}" ${flags}
    "${loadtest}" --url "${url}" --users "${users}" --rooms "${rooms}" --messages "${messages}" \
        --server-pid "${server_pid}" --deadline-secs 400 --json "${work}/${name}.json" "$@" \
        >"${work}/${name}.txt" 2>&1 ||
        echo "(run ${name} reported a failure; see ${work}/${name}.txt)" >&2
    server_peak_mib >"${work}/${name}.rss"
    stop_server
}

# table NAME…: one row per scenario. Runs named SCENARIO-rN are repeats of one scenario: the row
# shows the run with the median acked/s and the range over all of them.
table() {
    python3 - "${work}" "$@" <<'PY'
import json, sys, os
work, names = sys.argv[1], sys.argv[2:]
groups = {}
for name in names:
    groups.setdefault(name.rsplit("-r", 1)[0], []).append(name)
print("| run | acked/s (median; range) | deliveries/s | ack p50 / p99 ms | delivery p50 / p99 ms | CPU µs per message: generator / server | errors | lost / dup / order | server peak RSS | verdict |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
for group, runs in groups.items():
    reports = []
    for name in runs:
        path = os.path.join(work, name + ".json")
        if os.path.exists(path):
            r = json.load(open(path))
            r["rss"] = open(os.path.join(work, name + ".rss")).read().strip() or "?"
            reports.append(r)
    if not reports:
        print(f"| {group} | – | – | – | – | – | – | – | – | no report |"); continue
    reports.sort(key=lambda r: r["acked_per_sec"])
    r = reports[len(reports) // 2]
    ok = all(not x["timed_out"] and x["lost"] == x["duplicates"] == x["out_of_order"] == x["history_missing"] == 0 for x in reports)
    spread = f"{reports[0]['acked_per_sec']:,.0f}–{reports[-1]['acked_per_sec']:,.0f}" if len(reports) > 1 else "one run"
    cpu = r["cpu"]
    per_msg = lambda secs: "?" if secs is None else f"{secs * 1e6 / max(r['acked'], 1):.1f}"
    rss = max(int(x["rss"]) if x["rss"].isdigit() else 0 for x in reports)
    print(f"| {group} | {r['acked_per_sec']:,.0f} ({spread}) | {r['deliveries_per_sec']:,.0f} | "
          f"{r['ack_ms']['p50']:.1f} / {r['ack_ms']['p99']:.1f} | {r['delivery_ms']['p50']:.1f} / {r['delivery_ms']['p99']:.1f} | "
          f"{per_msg(cpu['generator_secs'])} / {per_msg(cpu['server_secs'])} | "
          f"{r['errors'] or '-'} | {r['lost']} / {r['duplicates']} / {r['out_of_order']} | {rss} MiB | {'PASS' if ok else 'FAIL'} |")
PY
}

# repeat NAME USERS MESSAGES "SERVER FLAGS" [loadtest flags…]: three runs of one scenario, named
# NAME-r1…3 (one row in `table`), added to `names`.
repeat() {
    local name="$1"; shift
    for run in 1 2 3; do
        burst "${name}-r${run}" "${work}/data" "$@"
        names+=("${name}-r${run}")
    done
}

echo "reports: ${work}"
if [ "${what}" = all ] || [ "${what}" = sizes ]; then
    names=()
    for users in 200 1000 2000; do
        repeat "users${users}" "${users}" 20 ""
    done
    repeat long1000 1000 100 "" --window 10
    echo; echo "### Burst sizes (20 messages per user, 10 users per room, default flags, 3 runs each;"
    echo "long1000: 100 messages per user, window 10)"; echo
    table "${names[@]}"
fi

if [ "${what}" = default ]; then
    names=()
    repeat users2000 2000 20 ""
    echo; echo "### Default burst (2,000 users × 20 messages, 10 users per room; 3 runs)"; echo
    table "${names[@]}"
fi

if [ "${what}" = ab ]; then
    new="${server}"
    old="${AB_OLD:?AB_OLD=path to the older server binary}"
    names=()
    for pair in $(seq "${AB_PAIRS:-6}"); do
        # Alternate which side goes first, so a machine drifting during the run favours neither.
        sides=(old new)
        if [ $(( pair % 2 )) = 0 ]; then sides=(new old); fi
        for side in "${sides[@]}"; do
            if [ "${side}" = old ]; then server="${old}"; else server="${new}"; fi
            data="${work}/ab-${side}-${pair}"
            # shellcheck disable=SC2206 # the flags are words
            extra=(${AB_LOADTEST_FLAGS:-})
            if [ "${side}" = new ]; then
                # shellcheck disable=SC2206 # the flags are words
                extra+=(${AB_NEW_LOADTEST_FLAGS:-})
            fi
            burst "warm-${side}-${pair}" "${data}" 2000 1 "" "${extra[@]}"
            burst "ab-${side}-${pair}" "${data}" 2000 20 "" "${extra[@]}"
            names+=("ab-${side}-${pair}")
        done
    done
    server="${new}"
    echo; echo "### Interleaved A/B, default burst (2,000 users × 20 messages): ${old} against ${new}"; echo
    python3 - "${work}" "${names[@]}" <<'PY'
import json, os, statistics, sys
work, names = sys.argv[1], sys.argv[2:]
print("| binary | server CPU for the burst (runs, s) | median | µs per message | acked/s median | lost / dup / order |")
print("|---|---|---:|---:|---:|---:|")
for side in ("old", "new"):
    reports = [json.load(open(os.path.join(work, n + ".json"))) for n in names
               if n.startswith(f"ab-{side}-") and os.path.exists(os.path.join(work, n + ".json"))]
    cpu = [r["cpu"]["server_secs"] for r in reports if r["cpu"]["server_secs"] is not None]
    if not cpu:
        print(f"| {side} | no report | | | | |"); continue
    acked = statistics.median(r["acked"] for r in reports)
    faults = [sum(r[k] for r in reports) for k in ("lost", "duplicates", "out_of_order")]
    print(f"| {side} | {', '.join(f'{c:.2f}' for c in cpu)} | {statistics.median(cpu):.3f} | "
          f"{statistics.median(cpu) * 1e6 / max(acked, 1):.1f} | "
          f"{statistics.median(r['acked_per_sec'] for r in reports):,.0f} | {' / '.join(map(str, faults))} |")
PY
fi

if [ "${what}" = all ] || [ "${what}" = latency ]; then
    names=()
    for rate in 25000 12500; do
        repeat "rate${rate}" 1000 40 "" --rate "${rate}"
    done
    echo; echo "### Latency at a given rate (1000 users × 40 messages, sends spread evenly; 3 runs each)"; echo
    table "${names[@]}"
fi

if [ "${what}" = all ] || [ "${what}" = batch ]; then
    names=()
    for batch in 1000 4000 10000; do
        repeat "batch${batch}" 2000 20 "--batch-size ${batch}"
    done
    echo; echo "### Batch size on the 2,000-user burst (20 messages each; 3 runs each)"; echo
    table "${names[@]}"
fi

if [ "${what}" = all ] || [ "${what}" = sweep ]; then
    names=()
    for batch in 1 10 100 1000; do
        for interval in 0 5 50; do
            burst "b${batch}-i${interval}" "${work}/data" 1000 20 \
                "--batch-size ${batch} --flush-interval-ms ${interval}"
            names+=("b${batch}-i${interval}")
        done
    done
    echo; echo "### Sweep: batch_size × flush_interval_ms (1000 users × 20 messages)"; echo
    table "${names[@]}"
fi

if [ "${what}" = all ] || [ "${what}" = connections ]; then
    burst "conn10000" "${work}/data" 10000 2 "" --setup-concurrency 64
    echo; echo "### 10,000 connections (2 messages each, 10 users per room)"; echo
    table conn10000
fi

if [ "${what}" = all ] || [ "${what}" = overload ]; then
    burst "overload" "${work}/data" 2000 20 "--queue-capacity 400"
    echo; echo "### Overload: queue capacity 400, 2,000 users × 20 messages at once (10× over)"; echo
    table overload
fi

# --- PostgreSQL: one node on the file store, one node on PostgreSQL, three nodes on PostgreSQL --
if [ "${what}" = cluster ]; then
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    chmod 711 "${work}"
    # A PostgreSQL of its own, with the machine's defaults (fsync on: a commit waits for the disk).
    pg_url="$(bash scripts/postgres.sh start "${work}/pg" 5499 $$)"
    "${pg_bin}/pg_test_fsync" -s 2 -f "${work}/fsync.test" >"${work}/pg_test_fsync.txt" 2>&1 || true
    rm -f "${work}/fsync.test"
    pg_cluster_users=1000
    # CPU seconds PostgreSQL has used so far: utime + stime of each of its processes (in clock
    # ticks, from /proc), and what the postmaster reaped of backends that ended.
    pg_cpu() {
        local postmaster
        postmaster="$(head -n 1 "${work}/pg/postmaster.pid")"
        for pid in $(pgrep -u postgres); do
            # Fields after the command name: utime is the 12th, stime the 13th, and for the
            # postmaster cutime and cstime the 14th and 15th.
            sed 's/^.*) //' "/proc/${pid}/stat" 2>/dev/null |
                awk -v pm="$([ "${pid}" = "${postmaster}" ] && echo 1)" \
                    '{ t = $12 + $13; if (pm) t += $14 + $15; print t }'
        done | awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { printf "%.3f\n", s / hz }'
    }
    # burst_nodes NAME NODES USERS MESSAGES: NODES nodes on the database, a fresh data directory
    # each (only their search indexes), users spread over them; PostgreSQL's CPU during the run
    # goes to ${work}/NAME.pgcpu.
    burst_nodes() {
        local name="$1" nodes="$2" users="$3" messages="$4"
        local rooms=$(( users / 10 )) pids=() urls=() pid_flags=() before after
        for i in $(seq 0 $((nodes - 1))); do
            local node_port=$((port + 10 + i))
            # shellcheck disable=SC2086 # limit_flags are words
            RUST_LOG=warn "${server}" --addr "127.0.0.1:${node_port}" \
                --data-dir "${work}/${name}-node${i}" --database-url "${pg_url}" ${limit_flags} \
                >>"${work}/server.log" 2>&1 &
            pids+=($!)
            urls+=(--url "http://127.0.0.1:${node_port}")
            pid_flags+=(--server-pid "$!")
            for _ in $(seq 100); do
                curl -fsS "http://127.0.0.1:${node_port}/readyz" >/dev/null 2>&1 && break
                sleep 0.1
            done
        done
        before="$(pg_cpu)"
        "${loadtest}" "${urls[@]}" --users "${users}" --rooms "${rooms}" --messages "${messages}" \
            "${pid_flags[@]}" --deadline-secs 400 --json "${work}/${name}.json" \
            >"${work}/${name}.txt" 2>&1 ||
            echo "(run ${name} reported a failure; see ${work}/${name}.txt)" >&2
        after="$(pg_cpu)"
        echo "${before} ${after}" >"${work}/${name}.pgcpu"
        local rss=0
        for pid in "${pids[@]}"; do
            rss=$((rss + $(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/${pid}/status")))
        done
        echo "${rss}" >"${work}/${name}.rss"
        for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
        for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
    }
    names=()
    for run in 1 2 3; do
        burst "file1-r${run}" "${work}/data-file" "${pg_cluster_users}" 20 ""
        names+=("file1-r${run}")
        burst_nodes "pg1-r${run}" 1 "${pg_cluster_users}" 20
        names+=("pg1-r${run}")
        burst_nodes "pg3-r${run}" 3 "${pg_cluster_users}" 20
        names+=("pg3-r${run}")
    done
    echo; echo "### One node on the file store, one and three nodes on PostgreSQL"
    echo "(${pg_cluster_users} users × 20 messages, 10 users per room, 3 runs each; server CPU is the nodes')"; echo
    table "${names[@]}"
    echo; echo "PostgreSQL's CPU per acked message (µs), by run:"
    python3 - "${work}" "${names[@]}" <<'PY'
import json, os, sys
work, names = sys.argv[1], sys.argv[2:]
for name in names:
    cpu = os.path.join(work, name + ".pgcpu")
    if not os.path.exists(cpu):
        continue
    before, after = map(float, open(cpu).read().split())
    acked = json.load(open(os.path.join(work, name + ".json")))["acked"]
    print(f"- {name}: {(after - before) * 1e6 / max(acked, 1):.1f}")
PY
    echo; echo "pg_test_fsync (this disk's synced writes per second):"
    grep -E "fdatasync|open_datasync" "${work}/pg_test_fsync.txt" | head -4
fi
