#!/usr/bin/env bash
# Bounded fuzzing of the HTTP surface with schemathesis, driven by spec/openapi.yaml, against
# a local gateway started here (embedded store, dev mode). Fails on any 5xx, any answer that
# does not match its operation's schema (status, content type, body), or a crash.
#   scripts/fuzz-api.sh [examples-per-operation]     (default 25; the test command uses it)
# Needs `schemathesis` (pip install schemathesis) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-25}
spec=${RTCROOM_FUZZ_SPEC:-spec/openapi.yaml}

cargo build --quiet --bin local-gateway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=target/fuzz-gateway.log
RTCROOM_LISTEN="127.0.0.1:$port" RTCROOM_SDKAPPID=1400000000 RTCROOM_RELAY=off \
  RTCROOM_USERSIG_KEY=fuzz-usersig-key-0123456789 RTCROOM_PUSH_KEY=fuzz-push-key \
  target/debug/local-gateway >"$log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

# A real session, so fuzzed calls get past authentication to the endpoints' own validation.
sig=$(curl -sf "$base/weapp/utils/get_login_info?userID=fuzzer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["userSig"])')
token=$(curl -sf -X POST -d '{}' "$base/weapp/multi_room/login?sdkAppID=1400000000&userID=fuzzer&userSig=$sig" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
config=target/schemathesis.toml
cat >"$config" <<TOML
[auth.openapi.UserID]
api_key = "fuzzer"
[auth.openapi.Token]
api_key = "$token"
TOML

schemathesis --config-file "$config" run "$spec" --url "$base" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --max-examples "$examples" --seed 20261122 \
  --workers 2 --request-timeout 10 --generation-database none --no-color \
  --report junit --report-junit-path target/schemathesis-junit.xml

kill -0 $gateway 2>/dev/null || { echo "the gateway died during fuzzing"; tail -20 "$log"; exit 1; }
echo "schemathesis: no 5xx, every answer matched spec/openapi.yaml, the gateway is still up"
