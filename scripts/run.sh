#!/usr/bin/env bash
# Runs the whole local system: set-up, then `clinic-local up` (moto, PostgreSQL migrations,
# schema registration, demo data, the API on http://127.0.0.1:${PORT:-8080}). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/clinic_scheduling}"
exec cargo run --quiet -p local --bin clinic-local -- up "$@"
