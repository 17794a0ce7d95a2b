#!/usr/bin/env bash
# Runs every check and test: set-up, the offline validation of template.yaml and terraform/,
# formatting, clippy (warnings are errors), the containers feature compiled (`cargo check`; it
# runs only where Docker does), the whole workspace test suite against real PostgreSQL and a
# real moto server, then one `cargo lambda invoke` of a function under `cargo lambda watch`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# #[sqlx::test] creates (and drops) one fresh database per test on this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
echo "==> template.yaml and terraform/ (offline validators)"
bash scripts/validate-iac.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
# With testkit's `containers` feature, so the Docker-only harness compiles here too.
cargo clippy --workspace --all-targets --features testkit/containers --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace --quiet
echo "==> cargo lambda invoke (against cargo lambda watch)"
bash scripts/lambda-invoke-check.sh
