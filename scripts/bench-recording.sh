#!/usr/bin/env bash
# What recording costs the relay (issue 16), measured against the same relay not recording, in
# the same run. The relay (release build) is pinned to core 0, the load to core 1.
#   scripts/bench-recording.sh [seconds] [streams] [players]     defaults: 20 s, 10, 500
# 1. CPU per recorded stream: `streams` real streams (a 640x360 25 fps H.264 clip at
#    ~800 kbit/s with 64 kbit/s AAC, published by ffmpeg -c copy in a loop) into a relay that
#    records none of them, then all as fragmented MP4, then all as FLV: the relay's CPU over
#    the window (from /proc), per stream, and what recording adds.
# 2. The fan-out benchmark with recording on against off: relay-load's publisher (600 kbit/s,
#    25 video + 43 audio messages a second) and `players` players, its stream recorded (MP4)
#    or not: delivered, latency the relay adds (p50/p99/max) and CPU per player-message.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
streams=${2:-10}
players=${3:-500}

cargo build --release --quiet -p rtcroom-relay --bins
ulimit -n "$(ulimit -Hn)"
key=bench-push-key
play_key=bench-play-key
# shellcheck source=scripts/relay-bench-lib.sh
. scripts/relay-bench-lib.sh
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; cleanup' EXIT

# A recorded push query for stream $1 as format $2 (url-signing.md URL-9), signed with $key.
recorded() {
  python3 - "$1" "$2" "$key" <<'PY'
import base64, hashlib, hmac, sys, time
stream, fmt, key = sys.argv[1:4]
b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
policy = f"{fmt}.double.{b64('bench')}.{b64(stream)}"
t = "%X" % (int(time.time()) + 3600)
mac = hmac.new(key.encode(), f"rtcroom-record\n{stream}\n{t}\n{policy}".encode(), hashlib.sha256)
print(f"txSecret={mac.digest()[:16].hex()}&txTime={t}&record={policy}")
PY
}
# A play query for stream $1, signed with the play key.
play_signed() { key=$play_key signed "$1"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_relay() { # $1 RTMP port, $2 recording directory ("" = none)
  TOKIO_WORKER_THREADS=1 RTCROOM_PUSH_KEY=$key RTCROOM_PLAY_KEY=$play_key \
    RTCROOM_RELAY_RTMP_LISTEN=127.0.0.1:$1 RTCROOM_RELAY_HTTP_LISTEN=127.0.0.1:$(port) \
    RTCROOM_RELAY_SRT_LISTEN=off RTCROOM_RELAY_MAX_CONNECTIONS=20000 \
    RTCROOM_RECORD_DIR=$2 RTCROOM_RECORD_MIN_FREE_MB=64 RUST_LOG=warn \
    taskset -c 0 target/release/media-relay >"$work/relay.log" 2>&1 &
  server=$!
  wait_port "$1"
}

echo "== 1. relay CPU per recorded stream: $streams streams, ${secs} s"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25 \
  -f lavfi -i sine=frequency=440 -c:v libx264 -pix_fmt yuv420p -preset veryfast -b:v 800k \
  -g 25 -c:a aac -b:a 64k -t 10 -f flv "$work/clip.flv"
hz=$(getconf CLK_TCK)
printf '%-6s %8s %12s %16s %18s %10s\n' mode streams relay_cpu_% cpu_ms_per_stream_s added_ms_per_stream_s written_MB
off_per_stream=""
for mode in off mp4 flv; do
  p=$(port)
  dir=""
  [ "$mode" != off ] && dir="$work/rec-$mode" && mkdir -p "$dir"
  start_relay "$p" "$dir"
  for i in $(seq "$streams"); do
    stream="8888_rec${i}_$mode"
    if [ "$mode" = off ]; then query=$(signed "$stream"); else query=$(recorded "$stream" "$mode"); fi
    taskset -c 1 ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$work/clip.flv" \
      -c copy -f flv "rtmp://127.0.0.1:$p/live/$stream?$query" &
    pids+=($!)
  done
  sleep 3
  t0=$(cpu_ticks "$server")
  sleep "$secs"
  t1=$(cpu_ticks "$server")
  stop_all
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  written=0
  [ -n "$dir" ] && written=$(du -sm "$dir" | cut -f1)
  read -r pct per added < <(python3 - "$t0" "$t1" "$hz" "$secs" "$streams" "${off_per_stream:-}" <<'PY'
import sys
t0, t1, hz, secs, n = (float(a) for a in sys.argv[1:6])
cpu = (t1 - t0) / hz
per = cpu * 1000 / secs / n
off = float(sys.argv[6]) if sys.argv[6] else per
print(f"{100 * cpu / secs:.1f} {per:.2f} {per - off:.2f}")
PY
)
  [ "$mode" = off ] && off_per_stream=$per
  printf '%-6s %8s %12s %16s %18s %10s\n' "$mode" "$streams" "$pct" "$per" "$added" "$written"
done

echo
echo "== 2. fan-out with recording on against off: $players players, ${secs} s"
printf '%-6s %7s %10s %10s %9s %9s %9s %12s\n' record players messages delivered p50_ms p99_ms max_ms cpu_us/msg
for mode in off mp4; do
  p=$(port)
  dir=""
  [ "$mode" != off ] && dir="$work/fan-$mode" && mkdir -p "$dir"
  start_relay "$p" "$dir"
  stream="8888_fan_$mode"
  if [ "$mode" = off ]; then query=$(signed "$stream"); else query=$(recorded "$stream" "$mode"); fi
  json=$(taskset -c 1 target/release/relay-load --json --players "$players" --seconds "$secs" \
    --pid "$server" --url "rtmp://127.0.0.1:$p/live/$stream?$query" \
    --play-url "rtmp://127.0.0.1:$p/live/$stream?$(play_signed "$stream")")
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  if [ -n "$dir" ] && [ -z "$(find "$dir" -name '*.mp4*' -size +0)" ]; then
    echo "the recorded run wrote nothing: $(tail -5 "$work/relay.log")"; exit 1
  fi
  python3 - "$mode" "$json" <<'PY'
import json, sys
mode, r = sys.argv[1], json.loads(sys.argv[2])
delivered = 100.0 * r["received"] / max(r["expected"], 1)
cpu = r["cpu_us_per_player_message"]
print(f'{mode:<6} {r["players"]:>7} {r["messages"]:>10} {delivered:>9.1f}% {r["p50_us"]/1000:>9.2f} '
      f'{r["p99_us"]/1000:>9.2f} {r["max_us"]/1000:>9.2f} {cpu if cpu is not None else float("nan"):>12.3f}')
PY
done
