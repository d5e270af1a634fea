#!/usr/bin/env bash
# The relay's CPU per player-message, SRT players against RTMP players of the same stream on
# the same relay in the same run. The relay is pinned to core 0 (one tokio worker; libsrt's
# threads and the SRT connection threads inherit the pin); one RTMP publisher (~600 kbit/s
# H.264 25 fps, keyframe every 25th, + AAC; a clip encoded once, sent with -re -c copy) and
# the players (ffmpeg -c copy -f null, the same reader for both protocols) on core 1. Windows
# of the same length, one after the other: the publisher alone (baseline), N RTMP players, N
# SRT players. CPU is the relay's user + system time over the window (/proc/PID/stat);
# player-messages are the relay's rtcroom_relay_messages_in_total over the window × N;
# "delivered" is the video frames the players counted against 25 a second each.
#   scripts/bench-srt.sh [seconds-per-window] [players]
#   defaults: SRT_BENCH_SECS or 15; SRT_BENCH_PLAYERS or 50. SRT_BENCH_ORDER="rtmp srt"
#   (default) runs the player windows in that order; SRT_BENCH_NO_BUILD=1 uses the binaries as
#   built.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${SRT_BENCH_SECS:-15}}
players=${2:-${SRT_BENCH_PLAYERS:-50}}
order=${SRT_BENCH_ORDER:-"rtmp srt"}
warmup=7   # ffmpeg readers probe up to ~5 s of input before their first output

command -v ffmpeg >/dev/null || apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; }
[ -n "${SRT_BENCH_NO_BUILD:-}" ] || cargo build --release --quiet -p rtcroom-relay --bins
bin=${CARGO_TARGET_DIR:-target}/release
ulimit -n "$(ulimit -Hn)"

key=bench-srt-key
stream=8888_srtbench
# shellcheck source=scripts/relay-bench-lib.sh
. scripts/relay-bench-lib.sh
readers=() publisher=""
stop_readers() {
  [ ${#readers[@]} -eq 0 ] && return
  kill "${readers[@]}" 2>/dev/null || true
  wait "${readers[@]}" 2>/dev/null || true
  readers=()
}
stop_all() { set +e; stop_readers; [ -n "$publisher" ] && kill "$publisher" 2>/dev/null; cleanup; }
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Stream $1 played (request) or published over SRT at 127.0.0.1:$2, signed with $key; the
# passphrase is derived from the key and the stream (url-signing.md).
srt_url() { # mode port
  python3 - "$key" "$stream" "$1" "$2" <<'PY'
import hashlib, hmac, sys, time
key, stream, mode, port = sys.argv[1:5]
t = format(int(time.time()) + 3600, "X")
s = hashlib.md5((key + stream + t).encode()).hexdigest()
pp = hmac.new(key.encode(), b"rtcroom srt passphrase\n" + stream.encode(), hashlib.sha256).hexdigest()[:32]
print(f"srt://127.0.0.1:{port}?streamid=#!::r=live/{stream},m={mode},txSecret={s},txTime={t}"
      f"&passphrase={pp}&pbkeylen=16")
PY
}

# The clip: 20 s, 640x360 test pattern at 25 fps, libx264 600 kbit/s, keyframe every 25
# frames, AAC 64 kbit/s at 44.1 kHz (43 audio messages a second), as FLV.
taskset -c 1 ffmpeg -hide_banner -nostdin -loglevel error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 20 -c:v libx264 -preset veryfast \
  -tune zerolatency -g 25 -pix_fmt yuv420p -b:v 536k -maxrate 536k -bufsize 536k \
  -c:a aac -b:a 64k "$work/clip.flv"

rtmp_port=$(port) http_port=$(port) srt_port=$(port)
TOKIO_WORKER_THREADS=1 RTCROOM_PUSH_KEY=$key RUST_LOG=warn \
  RTCROOM_RELAY_RTMP_LISTEN=127.0.0.1:$rtmp_port RTCROOM_RELAY_HTTP_LISTEN=127.0.0.1:$http_port \
  RTCROOM_RELAY_SRT_LISTEN=127.0.0.1:$srt_port RTCROOM_RELAY_SRT_MAX_CONNECTIONS=$((players + 16)) \
  RTCROOM_RELAY_MAX_CONNECTIONS=$((players + 64)) \
  taskset -c 0 "$bin/media-relay" >"$work/relay.log" 2>&1 &
server=$!
wait_port "$rtmp_port"
wait_port "$http_port"
rtmp_url="rtmp://127.0.0.1:$rtmp_port/live/$stream?$(signed "$stream")"

taskset -c 1 timeout $(( (secs + warmup + 8) * 3 + 30 )) ffmpeg -hide_banner -nostdin -loglevel error \
  -re -stream_loop -1 -i "$work/clip.flv" -c copy -f flv "$rtmp_url" >"$work/publisher.log" 2>&1 &
publisher=$!
sleep 2

# The relay's CPU seconds, a /metrics value, the video frames each reader reported so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$server/stat"; }
metric() { curl -s -m 2 "http://127.0.0.1:$http_port/metrics" | awk -v m="rtcroom_relay_$1" '$1 == m { print $2 }'; }
frames() {
  local f n sum=0
  for f in "$work"/progress-*.txt; do
    [ -e "$f" ] || continue
    n=$(grep -o '^frame=[0-9]*' "$f" | tail -n 1 | cut -d= -f2)
    sum=$((sum + ${n:-0}))
  done
  echo "$sum"
}
readers_cpu() {
  local p t=0
  for p in "${readers[@]}"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}

# The relay's CPU seconds by thread name (digits dropped: "SRT:SndQ:w1" → "SRT:SndQ:w").
threads() {
  local t
  for t in /proc/"$server"/task/*; do
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^[0-9]+ \(/, ""); name = $0; sub(/\) .*/, "", name);
      rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " "); gsub(/[0-9]+/, "", name);
      gsub(/ /, "_", name); printf "%s %.2f\n", name, (f[12] + f[13]) / hz }' "$t/stat" 2>/dev/null
  done | awk '{ cpu[$1] += $2; n[$1]++ } END { for (k in cpu) printf "%s %d %.2f\n", k, n[k], cpu[k] }'
}

# One window: start $players readers of protocol $1 (none for "baseline"), let them settle,
# measure for $secs, stop them. Appends one line of numbers to $work/results.
window() {
  local which=$1 n=0 i url
  rm -f "$work"/progress-*.txt
  case $which in
    rtmp) url=$rtmp_url; n=$players ;;
    srt) url=$(srt_url request "$srt_port"); n=$players ;;
  esac
  for ((i = 0; i < n; i++)); do
    # (ffmpeg itself, so that $! is the reader; bounded by -t and -rw_timeout, and stopped
    # after the window)
    taskset -c 1 ffmpeg -hide_banner -nostdin -loglevel error -rw_timeout 10000000 -i "$url" \
      -c copy -t $((secs + warmup + 30)) -f null -progress "$work/progress-$i.txt" -stats_period 0.5 - \
      >>"$work/readers-$which.log" 2>&1 &
    readers+=($!)
    sleep 0.02
  done
  sleep "$warmup"
  local c0 m0 f0 w0 b0 r0 t0 c1 m1 f1 w1 b1 r1 t1 conns srt_conns
  conns=$(metric players) srt_conns=$(metric srt_connections)
  threads >"$work/threads-$which.0"
  t0=$(date +%s.%N) c0=$(cpu) m0=$(metric messages_in_total) f0=$(frames)
  w0=$(metric player_writes_total) b0=$(metric bytes_out_total) r0=$(readers_cpu)
  sleep "$secs"
  t1=$(date +%s.%N) c1=$(cpu) m1=$(metric messages_in_total) f1=$(frames)
  w1=$(metric player_writes_total) b1=$(metric bytes_out_total) r1=$(readers_cpu)
  threads >"$work/threads-$which.1"
  local alive=0 p
  for p in "${readers[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
  stop_readers
  echo "$which $n $t0 $t1 $c0 $c1 $m0 $m1 $f0 $f1 $w0 $w1 $b0 $b1 $r0 $r1 $alive ${conns:-0} ${srt_conns:-0}" \
    >>"$work/results"
  sleep 2
}

window baseline
for which in $order; do window "$which"; done
kill "$publisher" 2>/dev/null || true

python3 - "$work/results" "$(getconf CLK_TCK)" <<'PY'
import sys
hz = int(sys.argv[2])
rows = {}
print(f"{'players':<9} {'n':>4} {'alive':>5} {'window s':>8} {'msgs in':>7} {'player-msgs':>11} {'delivered':>9} "
      f"{'relay cpu s':>11} {'µs/player-msg':>13} {'net µs':>7} {'writes/pm':>9} {'bytes/pm':>8} {'readers cpu':>11}")
for line in open(sys.argv[1]):
    f = line.split()
    which, n = f[0], int(f[1])
    t0, t1, c0, c1 = map(float, f[2:6])
    m0, m1, f0, f1, w0, w1, b0, b1, r0, r1, alive = (int(float(x)) for x in f[6:17])
    window = t1 - t0
    msgs = m1 - m0
    pm = msgs * n
    cpu = c1 - c0
    rows[which] = dict(n=n, cpu=cpu, pm=pm, window=window)
    base = rows.get("baseline")
    per = cpu * 1e6 / pm if pm else float("nan")
    net = (cpu - base["cpu"] * window / base["window"]) * 1e6 / pm if pm and base else float("nan")
    delivered = 100.0 * (f1 - f0) / (25 * window * n) if n else float("nan")
    rows[which].update(per=per, net=net)
    print(f"{which:<9} {n:>4} {alive:>5} {window:>8.1f} {msgs:>7} {pm:>11} {delivered:>8.1f}% {cpu:>11.2f} "
          f"{per:>13.2f} {net:>7.2f} {(w1 - w0) / pm if pm else 0:>9.2f} {(b1 - b0) / pm if pm else 0:>8.0f} "
          f"{(r1 - r0) / hz / window * 100:>10.0f}%")
if "srt" in rows and "rtmp" in rows:
    s, r = rows["srt"], rows["rtmp"]
    print(f"\nSRT/RTMP CPU per player-message: {s['per'] / r['per']:.2f}x "
          f"(net of the publisher-only baseline: {s['net'] / r['net']:.2f}x)")
print("\nthe relay's CPU in each window by thread (name, threads, CPU s; threads that ended are missing):")
import os
work = os.path.dirname(sys.argv[1])
for which in rows:
    def load(path):
        try:
            return {l.split()[0]: (int(l.split()[1]), float(l.split()[2])) for l in open(path) if l.strip()}
        except OSError:
            return {}
    a, b = load(f"{work}/threads-{which}.0"), load(f"{work}/threads-{which}.1")
    used = sorted(((b[k][1] - a.get(k, (0, 0.0))[1], k, b[k][0]) for k in b), reverse=True)
    print(f"  {which:<9}" + ", ".join(f"{k} x{n} {c:.2f}" for c, k, n in used if c >= 0.01))
print("""
delivered: video frames the players counted / 25 a second per player over the window (±3 %:
           the readers report their count every 0.5 s);
net µs: the relay's CPU less the baseline window's (publisher alone, scaled to the window);
writes/pm, bytes/pm: the relay's player_writes_total and bytes_out_total per player-message
(one SRT write is one srt_send of ≤ 1316 bytes); readers cpu: the players' CPU, % of core 1""")
PY
