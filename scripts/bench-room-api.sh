#!/usr/bin/env bash
# Room API throughput and latency on the local gateway:
# the gateway pinned to core 1, wrk (1 thread) pinned to core 0, 1,000 signed-in users in 250
# multi_rooms, pusher_heartbeat and get_pushers at 1, 16 and 64 connections.
#   scripts/bench-room-api.sh [seconds per run, default 10] [embedded|dynamodb]
# dynamodb runs the gateway on a moto server (the DynamoDB stand-in), itself pinned to core 0
# with wrk: it measures moto as much as the gateway, and says so. It signs in 200 users, not
# 1,000: moto deep-copies the whole table on every transaction, so the joins of the setup slow
# down as the table grows (heartbeats and queries do not copy).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
store=${2:-embedded}
port=5858
work=$(mktemp -d)
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin local-gateway
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
if [ "$store" = dynamodb ]; then
  python3 -c 'import moto.server' 2>/dev/null || pip install --quiet 'moto[server]'
  taskset -c 0 python3 scripts/moto_server.py 127.0.0.1 5859 >"$work/moto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf http://127.0.0.1:5859/moto-api/ >/dev/null && break; sleep 0.1; done
  export RTCROOM_STORE=dynamodb RTCROOM_CREATE_TABLE=1 RTCROOM_TABLE=bench AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:5859 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
fi
RTCROOM_LISTEN=127.0.0.1:$port RTCROOM_HEARTBEAT_TIMEOUT_SECS=3600 RTCROOM_RELAY=off \
  taskset -c 1 target/release/local-gateway >"$work/gateway.log" 2>&1 &
pids+=($!)
gateway=${pids[-1]}
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
users=1000
[ "$store" = dynamodb ] && users=200
python3 scripts/bench/setup_users.py "http://127.0.0.1:$port" "$users" "$work/users.lua"
echo "store $store, $users users; gateway pid $gateway on core 1; wrk on core 0; ${secs}s per run; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
# The gateway's own CPU time (user + system, clock ticks) from /proc.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$gateway/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))
for api in pusher_heartbeat get_pushers; do
  for conns in 1 16 64; do
    before=$(cpu_ticks)
    result=$(API=$api USERS_LUA="$work/users.lua" taskset -c 0 \
      wrk -t1 -c"$conns" -d"${secs}s" -s scripts/bench/room_api.lua "http://127.0.0.1:$port" | grep '^RESULT')
    requests=$(echo "$result" | grep -oE 'requests=[0-9]+' | cut -d= -f2)
    cpu_us=$(( ($(cpu_ticks) - before) * tick_us / (requests > 0 ? requests : 1) ))
    echo "$result gateway_cpu_us_per_request=$cpu_us" | sed "s/^RESULT/connections=$conns/"
  done
done
echo "gateway log lines written: $(wc -l <"$work/gateway.log")"
