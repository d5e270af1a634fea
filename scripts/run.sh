#!/usr/bin/env bash
# Runs the product locally (README "Quick start"): the local gateway, with the media relay
# in-process. Installs what it needs if missing: libsrt 1.5 (Debian's libsrt1.5-gnutls, the
# one ffmpeg and srt-tools use) for the relay's SRT front end; then builds and runs.
# Arguments go to the gateway; RTCROOM_* variables configure it (README "Configuration").
set -euo pipefail
cd "$(dirname "$0")/.."

have_libsrt() { /sbin/ldconfig -p 2>/dev/null | grep -q 'libsrt.*\.so\.1\.5'; }
if [ "${RTCROOM_RELAY:-on}" != "off" ] && [ "${RTCROOM_RELAY_SRT_LISTEN:-}" != "off" ] && ! have_libsrt; then
  echo "installing libsrt1.5-gnutls (the relay's SRT front end)..."
  apt-get install -y -qq --no-install-recommends libsrt1.5-gnutls >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends libsrt1.5-gnutls >/dev/null; }
fi
exec cargo run --release --bin local-gateway -- "$@"
