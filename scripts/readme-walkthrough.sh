#!/usr/bin/env bash
# Runs the README's "Walk-through" shell block, exactly as written, against a local gateway
# started here on the README's port, and fails if any step does.
#   scripts/readme-walkthrough.sh [embedded|dynamodb]
# dynamodb needs RTCROOM_TEST_DYNAMODB_ENDPOINT (a DynamoDB-compatible server; test.sh starts one).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-embedded}
cargo build --quiet --bin local-gateway
log=$(mktemp)
if [ "$store" = dynamodb ]; then
  RTCROOM_STORE=dynamodb RTCROOM_CREATE_TABLE=1 RTCROOM_TABLE="walkthrough-$RANDOM$RANDOM" \
    AWS_ENDPOINT_URL_DYNAMODB="$RTCROOM_TEST_DYNAMODB_ENDPOINT" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    target/debug/local-gateway >"$log" 2>&1 &
else
  target/debug/local-gateway >"$log" 2>&1 &
fi
gateway=$!
trap 'kill $gateway 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:5757/healthz >/dev/null && break; sleep 0.1; done
kill -0 $gateway 2>/dev/null || { cat "$log"; echo "the gateway did not start"; exit 1; }
# The block between the walk-through markers.
script=$(awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on' README.md | sed '/^```/d')
[ -n "$script" ] || { echo "no walk-through found in README.md"; exit 1; }
output=$(bash -euo pipefail -c "$script" 2>&1) || { echo "$output"; echo "walk-through failed"; exit 1; }
echo "$output"
# Every answer in the walk-through must be a success.
if echo "$output" | grep -q '"code":[1-9]'; then echo "a walk-through step did not succeed"; exit 1; fi
echo "walk-through ok ($store store)"
