#!/usr/bin/env bash
# The project's test command (README "Quick start"; .ci/run calls it):
#   formatting, lints, every test, and the README's curl walk-through run as written
#   against a freshly started local gateway.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
mkdir -p target
if ! cargo test --workspace >target/test-output.txt 2>&1; then
  tail -80 target/test-output.txt
  echo "cargo test failed"
  exit 1
fi
grep -E '^(test result|     Running)' target/test-output.txt
passed=$(grep -oE '^test result: ok\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')

step "README walk-through against a running local gateway"
scripts/readme-walkthrough.sh

echo
echo "${passed} passed, 0 failed"
