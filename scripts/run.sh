#!/usr/bin/env bash
# Runs the whole local system: set-up, the dashboard build (when stale), then `clinic-local up`
# (moto, PostgreSQL migrations, schema registration, demo data, the API and the dashboard on
# http://127.0.0.1:${PORT:-8080}). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/dashboard.sh || echo "==> the dashboard could not be built; the API runs without it" >&2
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/clinic_scheduling}"
# clinic-local as `cargo test --workspace` builds it: one feature resolution for running and
# testing, so neither command compiles the tree again after the other (`cargo run -p local`
# resolves other features and rebuilds half of it). Progress shows; the first build is long.
echo "==> building clinic-local (with the test build, which the test command then reuses)" >&2
cargo test --workspace --no-run
exec "${CARGO_TARGET_DIR:-target}/debug/clinic-local" up "$@"
