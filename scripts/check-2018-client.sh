#!/usr/bin/env bash
# Runs the real, unmodified 2018 room libraries (rtcroom.js, liveroom.js) against a local
# gateway, with clients/miniprogram/webim_wx.js in place of Tencent's IM SDK file.
#   scripts/check-2018-client.sh PATH/TO/MiniProgram       (a checkout of
#   github.com/TencentVideoCloudMLVBDev/MiniProgram; its code is Tencent's and not ours to copy)
# Not part of CI (CI cannot reach GitHub); clients/miniprogram/test/ is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=${1:?usage: scripts/check-2018-client.sh PATH/TO/MiniProgram}
wxlite="$checkout/wxlite"
[ -f "$wxlite/utils/rtcroom.js" ] || { echo "no wxlite/utils/rtcroom.js under $checkout" >&2; exit 2; }
cargo build --quiet --bin local-gateway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RTCROOM_LISTEN="127.0.0.1:$port" RTCROOM_RELAY=off target/debug/local-gateway >target/check-2018-gateway.log 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
flag=$(node -e "process.stdout.write(typeof WebSocket === 'function' ? '' : '--experimental-websocket')")
node $flag clients/miniprogram/check-2018-client.js "$wxlite" "http://127.0.0.1:$port"
