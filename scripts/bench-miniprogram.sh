#!/usr/bin/env bash
# The drop-in IM file's cost against a plain room connection, in one run: a release local
# gateway pinned to core 1, the Node clients on core 0 (clients/miniprogram/bench.js).
#   scripts/bench-miniprogram.sh [viewers, default 100] [messages, default 200] [rate/s, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
port=5869
cargo build --release --quiet --bin local-gateway -p rtcroom-functions
work=$(mktemp -d)
RTCROOM_LISTEN=127.0.0.1:$port RTCROOM_RELAY=off RUST_LOG=warn RTCROOM_LIVE_ROOM_MAX_AUDIENCES=10000 \
  taskset -c 1 target/release/local-gateway >"$work/gateway.log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
flag=$(node -e "process.stdout.write(typeof WebSocket === 'function' ? '' : '--experimental-websocket')")
taskset -c 0 node $flag clients/miniprogram/bench.js "http://127.0.0.1:$port" "${1:-100}" "${2:-200}" "${3:-20}"
