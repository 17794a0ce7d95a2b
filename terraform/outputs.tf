output "api_url" {
  description = "Base URL of the HTTP API."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "dashboard_url" {
  description = "The dashboard (and /api/* on the same origin)."
  value       = "https://${aws_cloudfront_distribution.dashboard.domain_name}"
}

output "dashboard_bucket" {
  description = "Upload dashboard/dist here."
  value       = aws_s3_bucket.dashboard.bucket
}

output "msk_bootstrap_brokers_iam" {
  description = "Bootstrap brokers of the IAM listener (TLS, port 9098)."
  value       = aws_msk_cluster.main.bootstrap_brokers_sasl_iam
}

output "database_proxy_endpoint" {
  description = "RDS Proxy endpoint (PostgreSQL, TLS required)."
  value       = aws_db_proxy.main.endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret with the database credentials (rotated by RDS)."
  value       = aws_rds_cluster.main.master_user_secret[0].secret_arn
}

output "create_topics_command" {
  description = "Deploy step: create every topic and its dead-letter topic with the catalogue's settings (run with AWS credentials allowed kafka:CreateTopic on the cluster)."
  value = join(" ", [
    "cargo run --release -p local --bin clinic-local -- create-topics",
    "--msk-cluster-arn ${aws_msk_cluster.main.arn}",
    "--partitions ${local.catalogue.topic_settings.partitions}",
    "--replication-factor ${local.catalogue.topic_settings.replication_factor}",
    "--retention-ms ${local.catalogue.topic_settings.retention_ms}",
  ])
}

output "auth_issuer" {
  description = "The JWT issuer the API trusts (the created user pool's when auth_issuer was not given)."
  value       = local.auth_issuer
}

output "dashboard_config" {
  description = "dashboard/dist/config.json for this deployment (README: Sign-in and config.json)."
  value = jsonencode({
    apiBaseUrl = ""
    auth = {
      mode     = "oidc"
      issuer   = local.auth_issuer
      clientId = local.auth_audience
      scope    = "openid profile email"
    }
  })
}

output "user_pool_id" {
  description = "The created Cognito user pool (null when auth_issuer was given): add clinic:<id> groups and agents here."
  value       = local.create_user_pool ? aws_cognito_user_pool.agents[0].id : null
}
