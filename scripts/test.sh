#!/usr/bin/env bash
# Runs every check and test: set-up, the offline validation of template.yaml and terraform/,
# formatting, clippy (warnings are errors; with the Docker-only containers feature, so it
# compiles here too), the dependency policy (cargo deny), the whole workspace test suite
# (integration tests and the fault suite) against real PostgreSQL, tansu and moto, one `cargo
# lambda invoke` under `cargo lambda watch`, then the dashboard's unit tests (vitest) and its
# browser tests (Chromium against the real local stack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
# #[sqlx::test] creates (and drops) one fresh database per test on this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
echo "==> template.yaml and terraform/ (offline validators)"
bash scripts/validate-iac.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
# With testkit's `containers` feature, so the Docker-only harness compiles here too.
cargo clippy --workspace --all-targets --features testkit/containers --quiet -- -D warnings
echo "==> cargo deny (licences, bans, sources)"
cargo deny --log-level warn check licenses bans sources
# The RustSec advisory database lives on GitHub; where it cannot be fetched, say so and go on.
if cargo deny --log-level off fetch db >/dev/null 2>&1; then
  echo "==> cargo deny (advisories)"
  cargo deny --offline check advisories
else
  echo "==> cargo deny advisories SKIPPED: the RustSec advisory database cannot be fetched here"
fi
echo "==> cargo test"
cargo test --workspace --quiet
echo "==> cargo lambda invoke (against cargo lambda watch)"
bash scripts/lambda-invoke-check.sh
echo "==> dashboard: build and unit tests"
bash scripts/dashboard.sh
(cd dashboard && npm test --silent)
echo "==> dashboard: browser tests"
bash scripts/browser-test.sh
