#!/bin/sh
# The init hook of the compose setup: the same steps the local stack (`clinic-local up`) runs
# against moto here, through the same code: migrations, the AWS initialisation (Glue registry
# and schemas, SES sender identity, database secret: `clinic-local init-aws`) and every topic
# with its dead-letter topic (`clinic-local create-topics`). Idempotent. The test suite runs this
# very script against a moto server (shared/local/tests/init_hook.rs).
#
# Env: AWS_ENDPOINT_URL (moto or LocalStack), DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, and
# optionally CLINIC_LOCAL (the binary; default `clinic-local` on PATH), KAFKA_PARTITIONS
# (default 3), CONFIRMATION_SENDER, SCHEMA_REGISTRY_NAME, DATABASE_SECRET_NAME.
set -eu
clinic=${CLINIC_LOCAL:-clinic-local}
"$clinic" migrate
"$clinic" init-aws
"$clinic" create-topics --partitions "${KAFKA_PARTITIONS:-3}" --replication-factor 1
echo "==> init hook done"
