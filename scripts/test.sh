#!/usr/bin/env bash
# Runs every check and test: set-up, formatting, clippy (warnings are errors), the dependency
# policy (cargo deny), then the whole workspace test suite (integration tests and the fault
# suite) against real PostgreSQL, tansu and moto.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# #[sqlx::test] creates (and drops) one fresh database per test on this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo deny (licences, bans, sources)"
cargo deny --log-level error check licenses bans sources
# The RustSec advisory database lives on GitHub; where it cannot be fetched, say so and go on.
if cargo deny --log-level off fetch db >/dev/null 2>&1; then
  echo "==> cargo deny (advisories)"
  cargo deny --offline check advisories
else
  echo "==> cargo deny advisories SKIPPED: the RustSec advisory database cannot be fetched here"
fi
echo "==> cargo test"
cargo test --workspace --quiet
