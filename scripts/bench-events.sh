#!/usr/bin/env bash
# Room-event fan-out over WebSocket on the local gateway (embedded store): one live_room of N
# members, each with a WebSocket on /ws; chat messages sent over HTTP (send_room_msg) at a
# fixed rate, each delivered to every member. The gateway pinned to core 1, the load tool
# (ws-load, Rust, in the repository) to core 0. Prints deliveries per second, the delivery
# latency (send to receive) p50/p99/max, and the gateway's CPU per delivered event.
#   scripts/bench-events.sh [members, default 300] ["rates", default "100 200 400"] [messages per run, default 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
members=${1:-300}
rates=${2:-"100 200 400"}
messages=${3:-2000}
port=5868
work=$(mktemp -d)
cargo build --release --quiet --bin local-gateway -p rtcroom-functions
cargo build --release --quiet --bin ws-load -p rtcroom-conformance
ulimit -n "$(ulimit -Hn)"
RTCROOM_LISTEN=127.0.0.1:$port RTCROOM_RELAY=off RTCROOM_LIVE_ROOM_MAX_AUDIENCES=100000 RUST_LOG=warn \
  taskset -c 1 target/release/local-gateway >"$work/gateway.log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "gateway pid $gateway on core 1, ws-load on core 0; $members members, $messages messages per run"
for rate in $rates; do
  taskset -c 0 target/release/ws-load --base-url "http://127.0.0.1:$port" --members "$members" \
    --messages "$messages" --rate "$rate" --pid "$gateway"
done
