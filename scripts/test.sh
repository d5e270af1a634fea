#!/usr/bin/env bash
# The project's test command (README "Quick start"; .ci/run calls it). Installs what it needs
# if missing (moto, cfn-lint, cargo-lambda, openapi-spec-validator, schemathesis from PyPI),
# starts a DynamoDB-compatible server (moto) for the run, and stops it at the end:
#   fmt, clippy, every test on the embedded store and on DynamoDB (including the conformance
#   suite and the mini-program IM file's Node tests), the OpenAPI validation, a bounded schemathesis run, the template lint, the Lambda
#   build, and the README's curl walk-through on both stores.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

mkdir -p target
step "tools"
# curl for the walk-through, ffmpeg as the relay's real RTMP and SRT publisher and player,
# srt-tools (srt-live-transmit, and libsrt, which the relay loads) for SRT, Node 20+ for the
# mini-program IM file's tests (its built-in test runner and WebSocket).
node_ok() { command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; }
if ! command -v curl >/dev/null || ! command -v ffmpeg >/dev/null || ! command -v srt-live-transmit >/dev/null || ! node_ok; then
  packages="curl ffmpeg srt-tools"
  node_ok || packages="$packages nodejs"
  apt-get install -y -qq --no-install-recommends $packages >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null; }
  node_ok || { echo "the mini-program tests need Node.js 20 or later (found: $(node --version 2>&1))"; exit 1; }
fi
have_tools() {
  python3 -c 'import moto.server' 2>/dev/null && command -v cfn-lint >/dev/null && command -v cargo-lambda >/dev/null \
    && command -v openapi-spec-validator >/dev/null && command -v schemathesis >/dev/null
}
if [ -n "${RTCROOM_TOOLS_VENV:-}" ] || ! have_tools; then
  # A venv of our own: Debian's system Python refuses pip installs (PEP 668).
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
    || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
  [ -x target/pytools/bin/python3 ] || python3 -m venv target/pytools
  # shellcheck disable=SC1091
  . target/pytools/bin/activate
  have_tools || pip install --quiet 'moto[server]' 'cfn-lint==1.53.3' cargo-lambda \
    'openapi-spec-validator==0.9.0' 'schemathesis==4.32.5'
fi
moto_pids=""
trap 'kill $moto_pids 2>/dev/null || true' EXIT
# Starts a moto server on a free port and points the tests at it.
fresh_moto() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 scripts/moto_server.py 127.0.0.1 "$port" >>target/moto.log 2>&1 &
  moto_pids="$moto_pids $!"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null && break; sleep 0.1; done
  export RTCROOM_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}
fresh_moto
echo "moto (DynamoDB stand-in) on $RTCROOM_TEST_DYNAMODB_ENDPOINT; $(cfn-lint --version); $(cargo lambda --version)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

run_tests() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    tail -80 "$log"
    echo "tests failed: $*"
    exit 1
  fi
  grep -E '^(test result|     Running)' "$log"
}

step "cargo test: everything (room-service tests on the embedded store; store suite on both)"
run_tests target/test-embedded.txt cargo test --workspace

step "cargo test: the room-service integration tests again, on DynamoDB"
RTCROOM_TEST_STORE=dynamodb run_tests target/test-dynamodb.txt \
  cargo test -p rtcroom-functions --tests -- --skip unmodified_2018_flows

# The mini-program flows keep real clients' timing windows (a dead phone gone after the
# heartbeat timeout, not before; answers within 10 s). The one-request-at-a-time stand-in slows
# as the tables of every earlier test pile up in it (runs took 35 s on a fresh one, 60-85 s at
# the end of the step above, and missed windows), so they get a fresh one.
step "cargo test: the 2018 mini-program flows on DynamoDB, on a fresh stand-in"
fresh_moto
RTCROOM_TEST_STORE=dynamodb run_tests target/test-miniprogram.txt \
  cargo test -p rtcroom-functions --test miniprogram

step "spec/openapi.yaml is valid OpenAPI 3.1"
openapi-spec-validator spec/openapi.yaml

step "schemathesis: bounded fuzzing of the HTTP API from spec/openapi.yaml"
scripts/fuzz-api.sh 50 >target/schemathesis.txt 2>&1 || { tail -80 target/schemathesis.txt; exit 1; }
grep -E 'generated|No issues|schemathesis:' target/schemathesis.txt

step "cfn-lint template.yaml"
cfn-lint template.yaml

step "Lambda binary: cargo lambda build (dev profile, x86_64 here; sam build makes release arm64)"
CARGO_LAMBDA_COMPILER=cargo cargo lambda build -p rtcroom-lambda --x86-64 --quiet
ls target/lambda | tr '\n' ' '; echo

step "README walk-through against a running local gateway, on each store"
scripts/readme-walkthrough.sh embedded
scripts/readme-walkthrough.sh dynamodb

passed=$(cat target/test-embedded.txt target/test-dynamodb.txt target/test-miniprogram.txt | grep -oE '^test result: ok\. [0-9]+ passed' | awk '{s+=$4} END {print s+0}')
echo
echo "${passed} passed, 0 failed"
