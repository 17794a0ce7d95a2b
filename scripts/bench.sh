#!/usr/bin/env bash
# Runs the benchmarks (BENCHMARKS.md): set-up, the functions' release binaries (and with
# `--arm64` their deployment zips, `cargo lambda build --release --arm64`), then the bench
# itself, which starts its own stack on free ports and a fresh database, measures the
# baselines and the product in the same run, and writes target/bench/results.{json,md}.
# Arguments after the optional `--arm64` go to the bench (`--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
arm64=""
if [ "${1:-}" = "--arm64" ]; then arm64=1; shift; fi
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
echo "==> building the functions' binaries (x86_64, the bench profile)"
# --workspace and the bench profile: the same feature resolution and settings as the bench
# build below, so both share artifacts (in target/release, where cargo puts this profile).
cargo build --profile bench --workspace --bins --quiet
if [ -n "$arm64" ]; then
  echo "==> building the arm64 deployment zips (cargo lambda)"
  bash scripts/lambda-zips.sh
fi
echo "==> running the benchmark"
cargo bench --workspace --bench pipeline --quiet -- --lambda-bin-dir target/release "$@"
