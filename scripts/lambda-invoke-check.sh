#!/usr/bin/env bash
# docs/deploy.md's `cargo lambda invoke`s against `cargo lambda watch`, run for real: the
# Kafka-triggered project-appointments function gets AWS's example Kafka event
# (tests/fixtures/example-kafka-event.json); its record is not Glue-framed Avro, so the function
# must answer an empty batchItemFailures list (nothing to retry) after writing the record to
# AWSKafkaTopic.dlq through its outbox. Then the api function gets an API Gateway HTTP API event
# for the health check (tests/fixtures/apigw-http-health.json) and must answer 200 with the
# health body; it refuses to start without AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS_URL, so they
# are passed as docs/deploy.md passes them (the local stack's sign-in; the health check needs no
# token, so nothing is fetched from there). Uses its own database, a free port, stops what it
# starts.
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
  --env-var "DATABASE_URL=$database_url" --env-var RUST_LOG=warn \
  --env-var AUTH_ISSUER=http://127.0.0.1:8080/_local/auth \
  --env-var AUTH_AUDIENCE=clinic-scheduling-api \
  --env-var AUTH_JWKS_URL=http://127.0.0.1:8080/_local/auth/jwks.json >"$log" 2>&1 &
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

# The first invoke of api compiles it too.
response=$(timeout 900 cargo lambda invoke api -A 127.0.0.1 -P "$port" \
  --data-file tests/fixtures/apigw-http-health.json) || { cat "$log"; exit 1; }
echo "api answered: $response"
RESPONSE="$response" python3 - <<'PY' || { echo "expected a 200 with the health body" >&2; exit 1; }
import json, os
response = json.loads(os.environ["RESPONSE"])
assert response["statusCode"] == 200, response["statusCode"]
assert json.loads(response["body"]) == {"status": "ok"}, response["body"]
PY
echo "the api function answered the health check: 200 {\"status\":\"ok\"}"
