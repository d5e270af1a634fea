#!/usr/bin/env bash
# Room API throughput and latency on the local gateway (embedded store):
# the gateway pinned to core 1, wrk (1 thread) pinned to core 0, 1,000 signed-in users in 250
# multi_rooms, pusher_heartbeat and get_pushers at 1, 16 and 64 connections.
#   scripts/bench-room-api.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
port=5858
work=$(mktemp -d)
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin local-gateway
RTCROOM_LISTEN=127.0.0.1:$port RTCROOM_HEARTBEAT_TIMEOUT_SECS=3600 \
  taskset -c 1 target/release/local-gateway >"$work/gateway.log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
python3 scripts/bench/setup_users.py "http://127.0.0.1:$port" 1000 "$work/users.lua"
echo "gateway pid $gateway on core 1; wrk on core 0; ${secs}s per run; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for api in pusher_heartbeat get_pushers; do
  for conns in 1 16 64; do
    API=$api USERS_LUA="$work/users.lua" taskset -c 0 \
      wrk -t1 -c"$conns" -d"${secs}s" -s scripts/bench/room_api.lua "http://127.0.0.1:$port" \
      | grep '^RESULT' | sed "s/^RESULT/connections=$conns/"
  done
done
echo "gateway log lines written: $(wc -l <"$work/gateway.log")"
