locals {
  catalogue = jsondecode(file("${path.module}/catalogue.json"))

  # Every function with its defaults filled in: trigger "kafka" unless said otherwise.
  functions = {
    for name, f in local.catalogue.functions : name => {
      trigger  = lookup(f, "trigger", "kafka")
      schedule = lookup(f, "schedule", null)
      timeout  = lookup(f, "timeout", 30)
      env      = lookup(f, "env", [])
      glue     = lookup(f, "glue", true)
      produces = f.produces
      mappings = [for m in f.mappings : merge(local.catalogue.mapping_defaults, m)]
    }
  }

  # One event-source mapping per function and topic, keyed "<function>/<consumer group>".
  mappings = merge([
    for name, f in local.functions : {
      for m in f.mappings : "${name}/${m.consumer_group}" => merge(m, {
        function    = name
        dead_letter = "${m.topic}.dlq"
      })
    }
  ]...)

  # A dead-letter topic for every contract topic (as messaging::topics::all_topics creates them).
  dead_letters = [for t in local.catalogue.topics : "${t}.dlq"]

  # Every topic an outbox row can name: the records some function writes through the outbox, and
  # the dead-letter topic of every mapped topic (the adapter dead-letters through the outbox; the
  # mapping's kafka:// on-failure destination writes there too). Every function may write all of
  # them; lambda.tf says why.
  outbox_topics = sort(distinct(concat(
    flatten([for f in local.functions : f.produces]),
    [for m in values(local.mappings) : m.dead_letter],
  )))

  scheduled = { for name, f in local.functions : name => f if f.trigger == "schedule" }

  # The identity provider: the one given, or the user pool cognito.tf creates.
  create_user_pool = var.auth_issuer == null
  auth_issuer      = local.create_user_pool ? "https://${aws_cognito_user_pool.agents[0].endpoint}" : var.auth_issuer
  auth_audience    = local.create_user_pool ? aws_cognito_user_pool_client.dashboard[0].id : var.auth_audience
  jwks_url         = coalesce(var.auth_jwks_url, "${trimsuffix(local.auth_issuer, "/")}/.well-known/jwks.json")

  # Environment variables by group; every function gets the common ones.
  env_common = {
    DATABASE_SECRET_ARN     = aws_rds_cluster.main.master_user_secret[0].secret_arn
    DATABASE_HOST           = aws_db_proxy.main.endpoint
    DATABASE_NAME           = aws_rds_cluster.main.database_name
    DATABASE_SSLMODE        = "verify-full"
    SCHEMA_REGISTRY_NAME    = aws_glue_registry.main.registry_name
    KAFKA_BOOTSTRAP_SERVERS = aws_msk_cluster.main.bootstrap_brokers_sasl_iam
    KAFKA_AUTH              = "iam"
    RUST_LOG                = "info"
  }
  env_groups = {
    saga = {
      SAGA_INSURANCE_DEADLINE_SECONDS    = tostring(var.saga_insurance_deadline_seconds)
      SAGA_CONFIRMATION_DEADLINE_SECONDS = tostring(var.saga_confirmation_deadline_seconds)
    }
    ses = {
      CONFIRMATION_SENDER = var.confirmation_sender
    }
    retention = {
      RETENTION_OUTBOX_DAYS    = tostring(var.retention_outbox_days)
      RETENTION_PROCESSED_DAYS = tostring(var.retention_processed_days)
    }
    auth = {
      AUTH_ISSUER   = local.auth_issuer
      AUTH_AUDIENCE = local.auth_audience
      AUTH_JWKS_URL = local.jwks_url
    }
  }

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # MSK IAM resource ARNs: arn:aws:kafka:<region>:<account>:<kind>/<cluster name>/<cluster uuid>/<name>.
  msk_cluster_path = "${aws_msk_cluster.main.cluster_name}/${aws_msk_cluster.main.cluster_uuid}"
  msk_arn_prefix   = "arn:${local.partition}:kafka:${var.region}:${local.account_id}"
}
