#!/usr/bin/env bash
# Runs every check and test: set-up, formatting, clippy (warnings are errors), the whole
# workspace test suite against real PostgreSQL and a real moto server, then the dashboard's
# unit tests (vitest) and its browser tests (Chromium against the real local stack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
# #[sqlx::test] creates (and drops) one fresh database per test on this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace --quiet
echo "==> dashboard: build and unit tests"
bash scripts/dashboard.sh
(cd dashboard && npm test --silent)
echo "==> dashboard: browser tests"
bash scripts/browser-test.sh
