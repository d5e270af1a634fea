#!/usr/bin/env bash
# The soak (issue 12; not in CI): every hostile client at once against the release local gateway
# (relay in-process) for minutes, while a normal client keeps working (HTTP calls, a /ws member,
# an ffmpeg publish and an HTTP-FLV play) and is measured. Prints the normal client's latencies,
# what the attackers did, the gateway's refusal counters and its peak RSS; exits 1 when the
# normal client saw an error or the gateway died.
#   scripts/soak.sh [seconds, default 180]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-180}
port=5878
rtmp=19378
flv=18378
work=$(mktemp -d)
command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; }
cargo build --release --quiet --bin local-gateway --example soak -p rtcroom-functions
export RTCROOM_USERSIG_KEY=soak-usersig-key-0123456789abcdef RTCROOM_SDKAPPID=1400000000
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
RTCROOM_LISTEN=127.0.0.1:$port RTCROOM_RELAY_RTMP_LISTEN=127.0.0.1:$rtmp \
  RTCROOM_RELAY_HTTP_LISTEN=127.0.0.1:$flv RUST_LOG=warn \
  target/release/local-gateway >"$work/gateway.log" 2>&1 &
pids+=($!)
gateway=${pids[-1]}
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "gateway pid $gateway on 127.0.0.1:$port (RTMP $rtmp, HTTP-FLV $flv); soak of ${secs}s; $(nproc) cores"
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$gateway/status"; }
echo "gateway RSS at start: $(( $(rss_kib) / 1024 )) MiB"
status=0
target/release/examples/soak "http://127.0.0.1:$port" "$secs" || status=$?
if ! kill -0 "$gateway" 2>/dev/null; then
  echo "the gateway died:"; tail -20 "$work/gateway.log"; exit 1
fi
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$gateway/status")
echo "gateway peak RSS during the soak: $(( peak / 1024 )) MiB; now $(( $(rss_kib) / 1024 )) MiB"
echo "gateway refusals:"
curl -sf "http://127.0.0.1:$port/metrics" | grep -E '^rtcroom_refusals_total' | grep -v ' 0$' | sed 's/^/  /'
echo "relay refusals:"
curl -sf "http://127.0.0.1:$flv/metrics" \
  | grep -E '^rtcroom_relay_(over_|idle_|silent_|publishers_replaced|gop_cache|connections_refused|auth_refused)' \
  | grep -v ' 0$' | sed 's/^/  /'
exit $status
