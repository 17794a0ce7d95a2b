#!/usr/bin/env bash
# The dashboard's browser tests: builds the dashboard, starts the real local stack (tansu,
# moto, PostgreSQL, every function, the API and the dashboard) on free ports with a fresh
# database and data directory, runs dashboard/e2e in Debian's Chromium (playwright-core), and
# always stops the stack and drops its database. Screenshots and the stack's log go to
# dashboard/test-results/.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

bash scripts/dashboard.sh
# clinic-local as `cargo test --workspace` builds it (a no-op right after the tests; `cargo build
# -p local` would resolve other features and rebuild half the tree).
cargo test --workspace --no-run --quiet 2>/dev/null
clinic_local="${CARGO_TARGET_DIR:-target}/debug/clinic-local"

results=dashboard/test-results
rm -rf "$results" && mkdir -p "$results"
port=$(free_port)
database="clinic_e2e_$$"
data_dir=$(mktemp -d)
pg_admin="postgres://postgres:postgres@127.0.0.1:5432/postgres"

stack=""
stop_stack() {
  if [ -n "$stack" ] && kill -0 "$stack" 2>/dev/null; then
    kill -INT "$stack" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$stack" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$stack" 2>/dev/null || true
  fi
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$data_dir"
}
trap stop_stack EXIT

say "starting the local stack on 127.0.0.1:$port (database $database; log $results/stack.log)"
DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/$database" \
  "$clinic_local" up --port "$port" --kafka-port "$(free_port)" \
  --moto-port "$(free_port)" --data-dir "$data_dir" >"$results/stack.log" 2>&1 &
stack=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 180); do
  curl -sf "$base/api/v1/health" >/dev/null 2>&1 && break
  if ! kill -0 "$stack" 2>/dev/null; then
    say "the stack stopped while starting:"; tail -n 40 "$results/stack.log" >&2; exit 1
  fi
  sleep 1
done
curl -sf "$base/api/v1/health" >/dev/null || { say "the stack did not answer in 180 s:"; tail -n 40 "$results/stack.log" >&2; exit 1; }

say "browser tests against $base"
(cd dashboard && DASHBOARD_URL="$base" node --test --test-concurrency=1 e2e/dashboard.test.mjs)
