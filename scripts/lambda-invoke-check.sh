#!/usr/bin/env bash
# The README's `cargo lambda invoke` against `cargo lambda watch`, run for real: the
# Kafka-triggered project-appointments function gets AWS's example Kafka event
# (tests/fixtures/example-kafka-event.json); its record is not Glue-framed Avro, so the function
# must answer an empty batchItemFailures list (nothing to retry) after writing the record to
# AWSKafkaTopic.dlq through its outbox. Uses its own database, a free port, stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
server="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
database="clinic_invoke_$$"
database_url="${server%/*}/$database"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
watch_pid=""
cleanup() {
  if [ -n "$watch_pid" ]; then kill -- "-$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
  psql "$server" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT

# clinic-local as `cargo test --workspace` builds it (a no-op right after the tests; `cargo run -p
# local` would resolve other features and rebuild half the tree).
cargo test --workspace --no-run --quiet 2>/dev/null
DATABASE_URL="$database_url" "${CARGO_TARGET_DIR:-target}/debug/clinic-local" migrate
# Its own process group, so cleanup stops the watcher and the function processes it runs.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
  --env-var "DATABASE_URL=$database_url" --env-var RUST_LOG=warn >"$log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 120); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$watch_pid" 2>/dev/null || { cat "$log"; echo "cargo lambda watch exited" >&2; exit 1; }
  sleep 0.5
done
# The first invoke compiles the function.
response=$(timeout 900 cargo lambda invoke project-appointments -A 127.0.0.1 -P "$port" \
  --data-file tests/fixtures/example-kafka-event.json) || { cat "$log"; exit 1; }
echo "project-appointments answered: $response"
[ "$(printf '%s' "$response" | tr -d ' \n')" = '{"batchItemFailures":[]}' ] \
  || { echo "unexpected batch response" >&2; exit 1; }
dead_lettered=$(psql "$database_url" -tAc "SELECT count(*) FROM outbox WHERE topic = 'AWSKafkaTopic.dlq'")
[ "$dead_lettered" = 1 ] || { echo "expected the record on AWSKafkaTopic.dlq, found $dead_lettered" >&2; exit 1; }
echo "the undecodable record went to AWSKafkaTopic.dlq"
