#!/usr/bin/env bash
# The SRT loss run of the acceptance criterion: an SRT publisher on a link with 5 % random loss
# and 50 ms delay each way, into the relay, played over RTMP on the relay's side; then the same
# network with srt-live-transmit as the listener instead of the relay (the reference: libsrt's
# own sample application, what SRT alone recovers on this link). Prints, for each, the video
# frames decoded at the far end against the frames the publisher encoded, PASS at ≥ 99.5 %.
#
#   publisher ns                                            relay ns
#   ffmpeg (caller, latency 200 ms)                         media-relay :9000 (SRT)  ← run 1
#     → 127.0.0.1:9000 udp-delay (50 ms, one FIFO           srt-live-transmit :9001  ← run 2
#       per direction) → veth ══════════════════════════ veth
#   nft: 5 % of UDP in from the veth dropped                nft: 5 % of UDP in from the veth dropped
#                                                           ffmpeg RTMP player on 127.0.0.1:1935
#                                                           (loopback: no loss), recording (-c copy)
# Both recordings (the player's FLV, srt-live-transmit's TS) are then counted alike: video
# frames in them ("received") and frames ffmpeg decodes from them ("decoded", the PASS figure);
# for the TS also the frames that arrived whole (no TS packet missing): what a demuxer that
# dropped damaged pictures would pass on (the relay's did before it kept them).
#
#   scripts/bench-srt-loss.sh
#   SRT_LOSS_SECS (default 60): seconds published at 25 fps (-re, -g 25, H.264 ~600 kbit/s +
#   AAC); SRT_LOSS_RUNS (default "ours slt"); SRT_BENCH_NO_BUILD=1 uses the binaries as built;
#   SRT_LOSS_KEEP=DIR keeps every log there (players, publisher, proxy, /metrics, stats);
#   SRT_LOSS_PCT (5) and SRT_LOSS_DELAY_MS (50) change the link, for control runs.
# The publisher goes on 1 s longer than counted: a receiving libsrt does not deliver what it
# still holds for its latency when the caller closes (the last 200 ms, 5 frames, are lost even
# on a perfect link), so the frames counted are the first SRT_LOSS_SECS x 25 (by timestamp);
# what arrives of the last second is shown, not counted.
# The kernel here has no netem: loss is nftables (numgen random) in each receiving namespace,
# delay a userspace proxy on the publisher's side (it also decodes the SRT handshake, to show
# the TSBPD delays both ends agreed, and counts data packets sent again). Needs root; installs
# srt-tools, nftables, ffmpeg and iproute2 from apt if missing. Namespaces, nft tables and
# every process are removed on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SRT_LOSS_SECS:-60}
runs=${SRT_LOSS_RUNS:-"ours slt"}
loss_pct=${SRT_LOSS_PCT:-5} delay_ms=${SRT_LOSS_DELAY_MS:-50}
fps=25 latency_ms=200 pass_pct=99.5 tail=1
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, nftables)"; exit 1; }

missing=""
for c in srt-live-transmit:srt-tools nft:nftables ffmpeg:ffmpeg ip:iproute2 curl:curl; do
  command -v "${c%%:*}" >/dev/null || missing="$missing ${c#*:}"
done
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
fi
[ -n "${SRT_BENCH_NO_BUILD:-}" ] || cargo build --release --quiet -p rtcroom-relay --bins
bin=${CARGO_TARGET_DIR:-target}/release

push_key=srt-loss-push-key play_key=srt-loss-play-key stream=8888_srtloss
nsp=srtl$$p nsr=srtl$$r vp=srtl$$p0 vr=srtl$$r0
ip_p=10.77.$(( $$ % 250 )).1 ip_r=10.77.$(( $$ % 250 )).2
work=$(mktemp -d)
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "$nsp" "$nsr"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  sleep 0.5
  for ns in "$nsp" "$nsr"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns exec "$ns" nft delete table inet lossy 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  ip link del "$vp" 2>/dev/null
  [ -n "${SRT_LOSS_KEEP:-}" ] && mkdir -p "$SRT_LOSS_KEEP" && cp -r "$work"/. "$SRT_LOSS_KEEP"/
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# The network: two namespaces joined by a veth pair, loopback up in each.
ip netns add "$nsp"
ip netns add "$nsr"
ip link add "$vp" netns "$nsp" type veth peer name "$vr" netns "$nsr"
ip -n "$nsp" addr add "$ip_p/24" dev "$vp"
ip -n "$nsr" addr add "$ip_r/24" dev "$vr"
for ns in "$nsp" "$nsr"; do ip -n "$ns" link set lo up; done
ip -n "$nsp" link set "$vp" up
ip -n "$nsr" link set "$vr" up
# (For the foreground only: a function run with & is a subshell, whose $! is not the process.)
in_p() { ip netns exec "$nsp" "$@"; }
in_r() { ip netns exec "$nsr" "$@"; }

# 5 % of the UDP arriving over the veth, in each receiving namespace (loopback untouched);
# the first rule counts what arrives, the second what it drops. A fresh table per run.
lossy() { # ns dev
  ip netns exec "$1" nft delete table inet lossy 2>/dev/null || true
  ip netns exec "$1" nft add table inet lossy
  ip netns exec "$1" nft add chain inet lossy input '{ type filter hook input priority 0; }'
  ip netns exec "$1" nft add rule inet lossy input iifname "$2" meta l4proto udp counter
  ip netns exec "$1" nft add rule inet lossy input iifname "$2" meta l4proto udp \
    numgen random mod 100 '<' "$loss_pct" counter drop
}
counters() { # ns → "arrived dropped"
  ip netns exec "$1" nft list table inet lossy | grep -o 'packets [0-9]*' | awk '{printf "%s ", $2}'
}

# Waits (10 s at most) until something listens on TCP port $2 in namespace $1.
wait_tcp() {
  for _ in $(seq 200); do
    ip netns exec "$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$2" 2>/dev/null && return
    sleep 0.05
  done
  echo "nothing listens on $2 in $1"; exit 1
}

# Signed URLs (url-signing.md; the SRT passphrase is derived from the signing key and stream).
urls() { # key mode(publish|request|rtmp) host port [extra]
  python3 - "$@" <<'PY'
import hashlib, hmac, sys, time
key, mode, host, port = sys.argv[1:5]
extra = sys.argv[5] if len(sys.argv) > 5 else ""
stream = "8888_srtloss"
t = format(int(time.time()) + 3600, "X")
s = hashlib.md5((key + stream + t).encode()).hexdigest()
if mode == "rtmp":
    print(f"rtmp://{host}:{port}/live/{stream}?txSecret={s}&txTime={t}")
elif mode == "passphrase":
    print(hmac.new(key.encode(), b"rtcroom srt passphrase\n" + stream.encode(), hashlib.sha256).hexdigest()[:32])
else:
    pp = hmac.new(key.encode(), b"rtcroom srt passphrase\n" + stream.encode(), hashlib.sha256).hexdigest()[:32]
    sid = f"#!::r=live/{stream},m={mode},txSecret={s},txTime={t}"
    print(f"srt://{host}:{port}?streamid={sid}&passphrase={pp}&pbkeylen=16{extra}")
PY
}

# The delay: a UDP proxy, one ordered queue per direction (each packet leaves 50 ms after it
# arrived, in arrival order: no reordering). It decodes the SRT handshake's HSREQ/HSRSP
# extensions (the TSBPD delays each end asks for and agrees to) and counts data packets and
# those flagged as retransmitted, per direction, into a JSON file every second.
cat >"$work/udp-delay.py" <<'PY'
import collections, json, socket, struct, sys, threading, time
listen_port, up_host, up_port, delay_ms, stats_path = sys.argv[1:6]
delay = int(delay_ms) / 1000
lsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
lsock.bind(("127.0.0.1", int(listen_port)))
upstream = (up_host, int(up_port))
stats = {d: {"packets": 0, "data": 0, "retransmitted": 0, "naks": 0, "acks": 0}
         for d in ("to_listener", "to_caller")}
lock = threading.Lock()

class Queue:
    def __init__(self):
        self.q, self.cv = collections.deque(), threading.Condition()
    def put(self, item):
        with self.cv:
            self.q.append((time.monotonic() + delay, item))
            self.cv.notify()
    def run(self):
        while True:
            with self.cv:
                while not self.q:
                    self.cv.wait()
                due, (sock, addr, data) = self.q.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sock.sendto(data, addr)
            except OSError:
                pass

def inspect(direction, data):
    s = stats[direction]
    with lock:
        s["packets"] += 1
        if len(data) < 16:
            return
        w0, w1 = struct.unpack_from("!II", data)
        if not w0 & 0x80000000:
            s["data"] += 1
            s["retransmitted"] += (w1 >> 26) & 1
            return
        kind = (w0 >> 16) & 0x7FFF
        s["acks"] += kind == 2
        s["naks"] += kind == 3
    if kind != 0 or len(data) < 64:
        return
    version, hs_type = struct.unpack_from("!I", data, 16)[0], struct.unpack_from("!I", data, 36)[0]
    if version != 5 or hs_type != 0xFFFFFFFF:
        return
    at = 64
    while at + 4 <= len(data):
        ext, words = struct.unpack_from("!HH", data, at)
        if ext in (1, 2) and words >= 3:
            _, _, delays = struct.unpack_from("!III", data, at + 4)
            name = "HSREQ" if ext == 1 else "HSRSP"
            print(f"{direction}: conclusion {name}: receiver TSBPD delay {delays >> 16} ms, "
                  f"sender TSBPD delay {delays & 0xFFFF} ms", flush=True)
        at += 4 + 4 * words

up_q, down_q = Queue(), Queue()
for q in (up_q, down_q):
    threading.Thread(target=q.run, daemon=True).start()
callers = {}

def from_listener(sock, caller):
    while True:
        data = sock.recv(65536)
        inspect("to_caller", data)
        down_q.put((lsock, caller, data))

def dump():
    while True:
        time.sleep(1)
        with lock:
            text = json.dumps(stats)
        with open(stats_path + ".tmp", "w") as f:
            f.write(text)
        import os
        os.replace(stats_path + ".tmp", stats_path)

threading.Thread(target=dump, daemon=True).start()
while True:
    data, caller = lsock.recvfrom(65536)
    sock = callers.get(caller)
    if sock is None:
        sock = callers[caller] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(upstream)
        threading.Thread(target=from_listener, args=(sock, caller), daemon=True).start()
    inspect("to_listener", data)
    up_q.put((sock, upstream, data))
PY

# What a recording ($1: what the RTMP player received, or what srt-live-transmit wrote) holds
# of the first $secs x 25 video frames (frame number: timestamp since the first frame x 25):
# the frames in it (demuxed packets) and the frames ffmpeg decodes from it (showinfo), the
# decoded ones missing split into gaps inside the stream and frames missing at its start or
# end, and the decoder's error lines.
count_frames() { # recording → JSON
  timeout --foreground 120 ffprobe -v error -select_streams v -show_entries packet=pts_time -of csv=p=0 "$1" \
    >"$1.packets" 2>/dev/null || true
  timeout --foreground 120 ffmpeg -hide_banner -nostdin -i "$1" -map 0:v -vf showinfo -fps_mode passthrough \
    -f null - >"$1.decode.log" 2>&1 || true
  python3 - "$1" "$fps" "$((secs * fps))" <<'PY'
import json, re, sys
path, fps, due = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def frames(pts):
    index = sorted({round((p - pts[0]) * fps) for p in pts}) if pts else []
    return [i for i in index if i < due], len(index)
packets, _ = frames([float(x.split(",")[0]) for x in open(path + ".packets") if x.strip()[:1].isdigit()])
text = open(path + ".decode.log", errors="replace").read()
decoded, seen = frames([float(m) for m in re.findall(
    r"Parsed_showinfo.*?\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[\d.]+)", text)])
errors = len(re.findall(r"error while decoding|concealing|decode_slice_header error|"
                        r"non-existing PPS|no frame!|Invalid NAL|missing picture", text, re.I))
print(json.dumps({"frames": len(decoded), "packets": len(packets),
                  "gaps": sum(b - a - 1 for a, b in zip(decoded, decoded[1:])),
                  "gap_list": [(a + 1, b - a - 1) for a, b in zip(decoded, decoded[1:]) if b - a > 1],
                  "decode_errors": errors, "after": seen - len(decoded)}))
PY
}

# The frames of a TS file ($1) whose video PES arrived whole: every TS packet of it there (no
# continuity-counter gap), among the first $secs x 25 (by PTS). What the relay's demuxer passes
# on: it drops a PES with a hole, where a decoder fed the file conceals the hole.
intact_frames() { # ts → JSON
  python3 - "$1" "$fps" "$((secs * fps))" <<'PY'
import json, sys
data = open(sys.argv[1], "rb").read()
fps, due = int(sys.argv[2]), int(sys.argv[3])
pmt, video = None, None
pes = []        # [pts or None, whole]
last_cc = None
for at in range(data.find(b"\x47"), len(data) - 187, 188):
    p = data[at:at + 188]
    if p[0] != 0x47:
        continue
    pid, pusi, afc, cc = ((p[1] & 0x1F) << 8) | p[2], p[1] & 0x40, (p[3] >> 4) & 3, p[3] & 0x0F
    off = 4 + (1 + p[4] if afc & 2 else 0)
    if pid == 0 and pusi and pmt is None:
        sec = p[off + 1 + p[off]:]
        pmt = ((sec[10] & 0x1F) << 8) | sec[11]
    elif pid == pmt and pusi and video is None:
        sec = p[off + 1 + p[off]:]
        end, i = 3 + (((sec[1] & 0x0F) << 8) | sec[2]) - 4, 12 + (((sec[10] & 0x0F) << 8) | sec[11])
        while i < end:
            if sec[i] == 0x1B:
                video = ((sec[i + 1] & 0x1F) << 8) | sec[i + 2]
            i += 5 + (((sec[i + 3] & 0x0F) << 8) | sec[i + 4])
    elif pid == video and afc & 1:
        if last_cc is not None and cc == last_cc and not pusi:
            continue  # a duplicate
        gap = last_cc is not None and cc != (last_cc + 1) & 0x0F
        last_cc = cc
        if pusi:
            h = p[off:]
            pts = None
            if h[:3] == b"\x00\x00\x01" and h[7] & 0x80:
                pts = ((h[9] >> 1) & 7) << 30 | h[10] << 22 | (h[11] >> 1) << 15 | h[12] << 7 | h[13] >> 1
            if gap and pes:
                pes[-1][1] = False  # its tail was lost
            pes.append([pts, True])
        elif gap and pes:
            pes[-1][1] = False
first = next((q for q, _ in pes if q is not None), 0)
counted = [whole for q, whole in pes if q is not None and round((q - first) / 90000 * fps) < due]
print(json.dumps({"pes": len(counted), "intact": sum(counted)}))
PY
}

# The publisher, in its namespace, to the proxy: 640x360 test pattern + a tone, paced (-re),
# $secs + 1 s at 25 fps, keyframe every 25 frames, H.264 ~600 kbit/s, AAC 64 kbit/s, in MPEG-TS.
# A handshake can fail on this link (its packets are lost like any other): a publisher that
# never connected (no frame encoded) tries again, up to 3 times, and says so.
publish() { # srt-url log
  local attempt
  for attempt in 1 2 3; do
    # In the background and waited for: bash runs a Ctrl-C trap at once during `wait`, but
    # not after a foreground child that exits normally on SIGINT, as ffmpeg does.
    ip netns exec "$nsp" timeout --foreground $((secs + 30)) ffmpeg -hide_banner -nostdin -re \
      -f lavfi -i "testsrc2=size=640x360:rate=$fps" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
      -t "$((secs + tail))" -c:v libx264 -preset veryfast -tune zerolatency -g "$fps" -pix_fmt yuv420p \
      -b:v 600k -maxrate 600k -bufsize 600k -c:a aac -b:a 64k -f mpegts "$1" >"$2" 2>&1 &
    pids+=($!)
    wait $! && return
    grep -q 'frame=' "$2" && return 1
    echo "publisher could not connect (attempt $attempt): $(grep -v '^ ' "$2" | tail -n 2 | tr '\n' ' ')"
    cp "$2" "$2.failed-$attempt"
  done
  return 1
}
encoded() { python3 -c "import re,sys; f=re.findall(r'frame=\s*(\d+)', open(sys.argv[1]).read()); print(f[-1] if f else 0)" "$1"; }

# Waits up to $2 s for process $1 to end on its own, then stops it (ffmpeg then flushes).
finish() {
  for _ in $(seq $(( $2 * 10 ))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

start_proxy() { # listener-port → proxy on 127.0.0.1:9000 in the publisher's namespace
  rm -f "$work/proxy.json"
  ip netns exec "$nsp" python3 "$work/udp-delay.py" 9000 "$ip_r" "$1" "$delay_ms" "$work/proxy.json" \
    >"$work/proxy.log" 2>&1 &
  proxy=$!; pids+=("$proxy")
  for _ in $(seq 50); do in_p ss -uln | grep -q '127.0.0.1:9000 ' && return; sleep 0.1; done
  echo "the proxy did not start"; cat "$work/proxy.log"; exit 1
}

# One run; leaves $work/$1.json with everything measured.
run_ours() {
  lossy "$nsp" "$vp"; lossy "$nsr" "$vr"
  ip netns exec "$nsr" env RTCROOM_PUSH_KEY=$push_key RTCROOM_PLAY_KEY=$play_key RUST_LOG=warn \
    RTCROOM_RELAY_SRT_LISTEN="$ip_r:9000" RTCROOM_RELAY_RTMP_LISTEN=127.0.0.1:1935 \
    RTCROOM_RELAY_HTTP_LISTEN=127.0.0.1:8080 timeout --foreground $((secs + 120)) "$bin/media-relay" \
    >"$work/relay.log" 2>&1 &
  local relay=$!; pids+=("$relay")
  wait_tcp "$nsr" 1935
  wait_tcp "$nsr" 8080
  # The player first, so that it sees the stream from its first frame; it records what it
  # receives, decoded afterwards like srt-live-transmit's output.
  ip netns exec "$nsr" timeout --foreground $((secs + 60)) ffmpeg -hide_banner -nostdin -i "$(urls $play_key rtmp 127.0.0.1 1935)" \
    -map 0 -c copy -f flv "$work/player.flv" >"$work/player.log" 2>&1 &
  local player=$!; pids+=("$player")
  # /metrics every second while the publisher is connected (its stats leave with it).
  ( while :; do
      in_r curl -s -m 1 http://127.0.0.1:8080/metrics >"$work/m.tmp" 2>/dev/null \
        && grep -q 'side="publish"' "$work/m.tmp" && mv "$work/m.tmp" "$work/metrics.txt"
      sleep 1
    done ) &
  local poller=$!; pids+=("$poller")
  start_proxy 9000
  sleep 1
  publish "$(urls $push_key publish 127.0.0.1 9000 "&latency=$((latency_ms * 1000))")" \
    "$work/publisher-ours.log" || { echo "publisher: exit $?"; tail -c 600 "$work/publisher-ours.log"; }
  sleep 2
  finish "$player" 15
  local up down
  up=$(counters "$nsr") down=$(counters "$nsp")
  kill "$proxy" "$relay" "$poller" 2>/dev/null || true
  wait "$proxy" "$relay" "$poller" 2>/dev/null || true
  cp "$work/proxy.log" "$work/proxy-ours.log"
  summarise ours "$work/player.flv" "$work/publisher-ours.log" "$up" "$down"
}

# srt-live-transmit keeps listening after a connection ends (-a:yes), so that a publisher
# whose handshake failed can try again; it is stopped 3 s after the publisher is done.
run_slt() {
  lossy "$nsp" "$vp"; lossy "$nsr" "$vr"
  local pp
  pp=$(urls $push_key passphrase x x)
  ip netns exec "$nsr" timeout --foreground $((secs + 60)) srt-live-transmit -a:yes -s:100 -pf:json -f \
    -statsout:"$work/slt-stats.json" \
    "srt://$ip_r:9001?mode=listener&latency=$latency_ms&passphrase=$pp&pbkeylen=16" \
    file://con >"$work/slt.ts" 2>"$work/slt.log" &
  local slt=$!; pids+=("$slt")
  local up=""
  for _ in $(seq 50); do in_r ss -uln | grep -q ":9001 " && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "srt-live-transmit is not listening"; cat "$work/slt.log"; exit 1; }
  start_proxy 9001
  sleep 1
  publish "$(urls $push_key publish 127.0.0.1 9000 "&latency=$((latency_ms * 1000))")" \
    "$work/publisher-slt.log" || { echo "publisher: exit $?"; tail -c 600 "$work/publisher-slt.log"; }
  finish "$slt" 3
  local up down
  up=$(counters "$nsr") down=$(counters "$nsp")
  kill "$proxy" 2>/dev/null || true
  wait "$proxy" 2>/dev/null || true
  cp "$work/proxy.log" "$work/proxy-slt.log"
  intact_frames "$work/slt.ts" >"$work/slt-intact.json"
  summarise slt "$work/slt.ts" "$work/publisher-slt.log" "$up" "$down"
}

summarise() { # name recording publisher-log "arrived dropped" (to listener) "…" (to caller)
  local frames proxy_stats
  frames=$(count_frames "$2")
  proxy_stats=$(cat "$work/proxy.json" 2>/dev/null || echo '{}')
  python3 - "$1" "$frames" "$(encoded "$3")" "$4" "$5" "$proxy_stats" "$work" >"$work/$1.json" <<'PY'
import json, re, sys
name, frames, encoded, up, down, proxy, work = sys.argv[1:8]
r = json.loads(frames)
r["name"], r["encoded"] = name, int(encoded)
r["loss_to_listener"] = [int(x) for x in up.split()]
r["loss_to_caller"] = [int(x) for x in down.split()]
r["proxy"] = json.loads(proxy)
if name == "ours":
    try:
        text = open(f"{work}/metrics.txt").read()
    except OSError:
        text = ""
    get = lambda fam: sum(float(v) for v in re.findall(
        rf'^rtcroom_relay_srt_{fam}\{{[^}}]*side="publish"[^}}]*\}} (\S+)', text, re.M))
    r["srt"] = {k: get(k) for k in ("packets_received_lost_total", "packets_sent_lost_total",
                                     "packets_retransmitted_total", "packets_dropped_total", "rtt_ms")}
else:
    last = {}
    try:
        for line in open(f"{work}/slt-stats.json"):
            line = line.strip().rstrip(",")
            if line.startswith("{"):
                try:
                    last = json.loads(line)
                except ValueError:
                    pass
    except OSError:
        pass
    recv = last.get("recv", {})
    r["srt"] = {"packets_received_lost_total": recv.get("packetsLost"),
                "packets_dropped_total": recv.get("packetsDropped"),
                "packets_retransmitted_total": recv.get("packetsRetransmitted"),
                "packets_belated_total": recv.get("packetsBelated"),
                "rtt_ms": last.get("link", {}).get("rtt"),
                "tsbpd_ms": recv.get("msTsbPdDelay")}
print(json.dumps(r))
PY
}

echo "SRT loss run: ${secs}s at $fps fps published, ${loss_pct} % loss and ${delay_ms} ms delay each way, caller latency ${latency_ms} ms"
for r in $runs; do
  echo "--- $r"
  "run_$r"
  sed 's/^/  proxy: /' "$work/proxy-$r.log" | sort -u
done

python3 - "$work" "$secs" "$fps" "$pass_pct" "$tail" $runs <<'PY'
import json, sys
work, secs, fps, pass_pct, tail = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
runs = sys.argv[6:]
due = secs * fps
names = {"ours": "rtcroom relay, RTMP play", "slt": "srt-live-transmit, file"}
rows = [(run, json.load(open(f"{work}/{run}.json"))) for run in runs]
print()
print(f"{'listener':<25} {'decoded':>13} {'%':>7} {'':>4} {'received':>8} {'%':>7} {'encoded':>7} {'gaps':>5} "
      f"{'start/end':>9} {'dec.err':>7} {'last s':>6}")
for run, r in rows:
    pct = 100.0 * r["frames"] / due
    edge = due - r["frames"] - r["gaps"]
    print(f"{names.get(run, run):<25} {r['frames']:>6}/{due:<6} {pct:>7.2f} {'PASS' if pct >= pass_pct else 'FAIL':>4} "
          f"{r['packets']:>8} {100.0 * r['packets'] / due:>7.2f} "
          f"{r['encoded']:>7} {r['gaps']:>5} {edge:>9} {r['decode_errors']:>7} {r['after']:>3}/{tail * fps:<2}")
    if run == "slt":
        try:
            i = json.load(open(f"{work}/slt-intact.json"))
            pct = 100.0 * i["intact"] / due
            print(f"{'  of which arrived whole':<25} {'':>13} {'':>7} {'':>4} {i['intact']:>8} {pct:>7.2f}"
                  f"   (video PES with no TS packet missing)")
        except (OSError, ValueError):
            pass
print()
print(f"{'listener':<25} {'nft drop→L':>11} {'nft drop→C':>11} {'data→L':>7} {'resent':>6} {'NAKs':>5} "
      f"{'L lost':>6} {'L dropped':>9} {'rtt ms':>6}")
fmt = lambda v: "?" if v is None else f"{v:.0f}"
lp = lambda c: f"{c[1]}/{c[0]}" if len(c) == 2 else "?"
for run, r in rows:
    up, down, s = r["proxy"].get("to_listener", {}), r["proxy"].get("to_caller", {}), r["srt"]
    print(f"{names.get(run, run):<25} {lp(r['loss_to_listener']):>11} {lp(r['loss_to_caller']):>11} "
          f"{up.get('data', 0):>7} {up.get('retransmitted', 0):>6} {down.get('naks', 0):>5} "
          f"{fmt(s.get('packets_received_lost_total')):>6} "
          f"{fmt(s.get('packets_dropped_total')):>9} {fmt(s.get('rtt_ms')):>6}")
for run, r in rows:
    if r["gap_list"]:
        print(f"{names.get(run, run)}: decoded frames missing (first frame+how many): "
              + " ".join(f"{a}+{n}" for a, n in r["gap_list"]))
print(f"""
decoded:   video frames ffmpeg decodes from what arrived, among the first {due} (the publisher's first
           {secs} s at {fps} fps); PASS at >= {pass_pct} %. received: the video frames in what arrived (the
           RTMP player's recording; srt-live-transmit's TS as demuxed, damaged frames included).
           encoded: frames the publisher's encoder reported ({secs} s + {tail} s not counted); gaps:
           decoded frames missing inside the stream; start/end: the rest missing; dec.err: decoder
           error lines (a frame decoded with concealment counts); last s: decoded frames of the
           uncounted last second
nft drop:  UDP packets dropped / arrived over the veth towards the listener (L) / the caller (C)
data→L:    SRT data packets the caller sent through the proxy; resent: flagged as retransmitted;
           NAKs: loss reports from the listener; L lost / L dropped: the listener's own counters
           (packets found missing on receipt, given up as too late): rtcroom from /metrics
           (side="publish", the last scrape before the publisher left), srt-live-transmit from its
           -f stats (last report)""")
PY
if [ -s "$work/metrics.txt" ]; then
  echo
  echo "the relay's SRT statistics for the publisher (/metrics, last scrape before it left):"
  grep '^rtcroom_relay_srt_.*side="publish"' "$work/metrics.txt" | sed 's/{[^}]*}//; s/^/  /'
fi
