#!/usr/bin/env bash
# Glass-to-glass latency through the relay (and through nginx-rtmp, for comparison), on
# loopback, with ffmpeg at both ends:
#   publisher  lavfi testsrc paced in real time ("realtime" filter), each frame stamped with
#              the wall clock when it is captured (-use_wallclock_as_timestamps), encoded by
#              libx264 -tune zerolatency, pushed over RTMP with those timestamps (-copyts);
#   player     ffmpeg with no input buffering, decoding and logging each frame (showinfo);
#   latency    the time its showinfo line is read, minus the frame's capture stamp.
# Display is not included (there is no screen); everything else is.
#   scripts/glass-to-glass.sh [seconds]        (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cargo build --release --quiet -p rtcroom-relay --bin media-relay
module=/usr/lib/nginx/modules/ngx_rtmp_module.so
key=g2g-push-key
# shellcheck source=scripts/relay-bench-lib.sh
. scripts/relay-bench-lib.sh

measure() { # name port
  local url="rtmp://127.0.0.1:$2/live/g2g?$(signed g2g)" start
  start=$(python3 -c 'import time; print("%.6f" % time.time())')
  timeout $((secs + 10)) ffmpeg -hide_banner -nostdin -loglevel error -use_wallclock_as_timestamps 1 \
    -f lavfi -i "testsrc=size=640x360:rate=25,realtime" -copyts -output_ts_offset "-$start" \
    -fps_mode passthrough -c:v libx264 -preset veryfast -tune zerolatency -g 25 \
    -f flv "$url" >"$work/publisher.log" 2>&1 &
  local publisher=$!
  sleep 2
  timeout "$((secs + 1))" ffmpeg -hide_banner -nostdin -fflags nobuffer -flags low_delay \
    -probesize 32 -analyzeduration 0 -copyts -i "$url" -vf showinfo -f null - 2>&1 \
    | python3 -c "
import re, sys, time
start, lat = float(sys.argv[1]), []
for line in sys.stdin:
    now = time.time()
    m = re.search(r'pts_time:([0-9.]+)', line)
    if m:
        lat.append((now - (start + float(m.group(1)))) * 1000)
lat = sorted(lat[25:])  # the first second: the player starting
if not lat:
    sys.exit('no frames')
print(f'{sys.argv[2]:<8} {len(lat):>6} frames  median {lat[len(lat)//2]:6.1f} ms  '
      f'p90 {lat[int(len(lat)*0.9)]:6.1f} ms  max {lat[-1]:6.1f} ms')
" "$start" "$1" || true
  kill "$publisher" 2>/dev/null || true
  wait "$publisher" 2>/dev/null || true
}

p=$(port)
RTCROOM_PUSH_KEY=$key RTCROOM_RELAY_RTMP_LISTEN=127.0.0.1:$p RTCROOM_RELAY_HTTP_LISTEN=127.0.0.1:$(port) \
  RUST_LOG=warn target/release/media-relay >"$work/relay.log" 2>&1 &
server=$!
wait_port "$p"
measure rtcroom "$p"
kill "$server"; wait "$server" 2>/dev/null || true; server=""

if command -v nginx >/dev/null && [ -f "$module" ]; then
  p=$(port)
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<EOF
load_module $module;
master_process off;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:$p; ping 0;
  application live { live on; wait_key off; wait_video off; interleave off; } } }
EOF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
  server=$!
  wait_port "$p"
  measure nginx "$p"
fi
