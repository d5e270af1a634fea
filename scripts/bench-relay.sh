#!/usr/bin/env bash
# The relay fan-out benchmark, ours against nginx-rtmp in the same run: one publisher at
# ~600 kbit/s (25 video + 43 audio messages a second) and N players, the server pinned to
# core 0 and the load tool (relay-load) to core 1. Prints, per N and server: messages
# delivered, latency the server adds (p50/p99/max, the tool's send time to receive time) and
# the server's CPU per player-message.
#   scripts/bench-relay.sh [seconds-per-run] ["player counts"]
#   defaults: 10 s; "100 500 1000 2000 2700 4000"; RELAY_BENCH_SERVERS="ours" (or "nginx")
#   runs one of the two; "before" with RELAY_BENCH_BASELINE=PATH adds another build of ours
#   (e.g. the commit before a change) to the same run; RELAY_BENCH_VIDEO_ONLY=1: video only
#   (25 messages a second, the whole 600 kbit/s); RELAY_BENCH_CORES=both: the servers and the
#   tool share both cores (ours with a fan-out thread per core, nginx-rtmp with its one
#   worker), and the run ends with each server's capacity: the most players served
#   with p99 <= 50 ms and everything delivered
# Installs nginx + libnginx-mod-rtmp from apt if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
counts=${2:-"100 500 1000 2000 2700 4000"}

module=/usr/lib/nginx/modules/ngx_rtmp_module.so
if ! command -v nginx >/dev/null || [ ! -f "$module" ]; then
  apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp >/dev/null; }
fi
cargo build --release --quiet -p rtcroom-relay --bins
ulimit -n "$(ulimit -Hn)"

key=bench-push-key
# shellcheck source=scripts/relay-bench-lib.sh
. scripts/relay-bench-lib.sh

both=""
[ "${RELAY_BENCH_CORES:-one}" = both ] && both=1
# The server on core 0 and the tool on core 1, or both anywhere.
core0=(taskset -c 0) core1=(taskset -c 1)
[ -n "$both" ] && core0=() core1=()

# Our relay from `$2` (default: this tree's build); SRT off, it plays no part here.
start_ours() {
  local p=$1 bin=${2:-target/release/media-relay} threads=1
  [ -n "$both" ] && threads=2
  TOKIO_WORKER_THREADS=$threads RTCROOM_PUSH_KEY=$key RTCROOM_RELAY_RTMP_LISTEN=127.0.0.1:$p \
    RTCROOM_RELAY_HTTP_LISTEN=127.0.0.1:$(port) RTCROOM_RELAY_SRT_LISTEN=off \
    RTCROOM_RELAY_MAX_CONNECTIONS=20000 RUST_LOG=warn \
    "${core0[@]}" "$bin" >"$work/ours.log" 2>&1 &
  server=$!
}

# RELAY_BENCH_BASELINE=PATH: another build of the relay (e.g. the commit before a change),
# measured in the same run as "before" (add "before" to RELAY_BENCH_SERVERS).
start_before() {
  start_ours "$1" "${RELAY_BENCH_BASELINE:?RELAY_BENCH_BASELINE=path to the baseline media-relay}"
}

start_nginx() {
  local p=$1
  mkdir -p "$work/nginx/logs"
  # One process (no master), as low-latency as nginx-rtmp gets: no waiting for keyframes or
  # video, no interleaving, no pings. On both cores too: nginx-rtmp's way to more cores,
  # workers that push each stream to each other (rtmp_auto_push), delivered only half the
  # messages here (the players on the second worker got none).
  cat >"$work/nginx/nginx.conf" <<EOF
load_module $module;
master_process off;
worker_processes 1;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
rtmp {
  server {
    listen 127.0.0.1:$p;
    chunk_size 4096;
    ping 0;
    application live { live on; wait_key off; wait_video off; interleave off; }
  }
}
EOF
  "${core0[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' \
    >"$work/nginx.log" 2>&1 &
  server=$!
}

printf '%-8s %6s %10s %12s %9s %9s %9s %12s\n' server players messages delivered p50_ms p99_ms max_ms cpu_us/msg
servers=${RELAY_BENCH_SERVERS:-"ours nginx"}
for n in $counts; do
  for which in $servers; do
    p=$(port)
    "start_$which" "$p"
    wait_port "$p"
    stream="8888_bench_$n"
        json=$("${core1[@]}" target/release/relay-load --json --players "$n" --seconds "$secs" --pid "$server" ${RELAY_BENCH_VIDEO_ONLY:+--video-only} \
      --url "rtmp://127.0.0.1:$p/live/$stream?$(signed "$stream")")
    kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=""
    echo "$which $json" >>"$work/results"
    python3 - "$which" "$json" <<'PY'
import json, sys
which, r = sys.argv[1], json.loads(sys.argv[2])
delivered = 100.0 * r["received"] / max(r["expected"], 1)
cpu = r["cpu_us_per_player_message"]
print(f'{which:<8} {r["players"]:>6} {r["messages"]:>10} {delivered:>11.1f}% {r["p50_us"]/1000:>9.2f} '
      f'{r["p99_us"]/1000:>9.2f} {r["max_us"]/1000:>9.2f} {cpu if cpu is not None else float("nan"):>12.2f}')
PY
  done
done
if [ -n "$both" ]; then
  python3 - "$work/results" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    which, r = line.split(' ', 1)
    r = json.loads(r)
    if r["received"] >= r["expected"] and r["p99_us"] <= 50_000:
        best[which] = max(best.get(which, 0), r["players"])
    else:
        best.setdefault(which, 0)
for which, n in best.items():
    print(f'capacity {which:<8} {n:>6} players at p99 <= 50 ms, all delivered')
PY
fi
