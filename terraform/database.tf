# Aurora PostgreSQL Serverless v2 behind an RDS Proxy. The master credentials live in Secrets
# Manager, created and rotated by RDS (manage_master_user_password); the proxy reads them, and
# so do the functions at start-up (DATABASE_SECRET_ARN, connecting to DATABASE_HOST = the
# proxy), so a rotation needs no redeploy. Migrations are a deploy step:
# `clinic-local migrate` from inside the VPC (docs/deploy.md).

resource "aws_db_subnet_group" "main" {
  name       = var.name
  subnet_ids = local.private_subnet_ids
}

resource "aws_rds_cluster_parameter_group" "main" {
  name   = var.name
  family = "aurora-postgresql${split(".", var.aurora_engine_version)[0]}"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  # Bind parameters carry patient names and emails: never log them.
  parameter {
    name  = "log_parameter_max_length"
    value = "0"
  }
  parameter {
    name  = "log_parameter_max_length_on_error"
    value = "0"
  }
}

resource "aws_rds_cluster" "main" {
  # checkov:skip=CKV2_AWS_8: Aurora's continuous backups (14 days, point-in-time restore) are the backup; an AWS Backup plan is an account-level policy to add on top.
  # checkov:skip=CKV2_AWS_27: statement logging would write patient data (PHI) to the logs; slow statements (>1 s) are logged without their parameters instead (parameter group).
  cluster_identifier                  = var.name
  engine                              = "aurora-postgresql"
  engine_mode                         = "provisioned"
  engine_version                      = var.aurora_engine_version
  database_name                       = "clinic_scheduling"
  master_username                     = "clinic"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.main.arn
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.main.arn
  db_subnet_group_name                = aws_db_subnet_group.main.name
  db_cluster_parameter_group_name     = aws_rds_cluster_parameter_group.main.name
  vpc_security_group_ids              = [aws_security_group.database.id]
  backup_retention_period             = 14
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  final_snapshot_identifier           = "${var.name}-final"
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]

  serverlessv2_scaling_configuration {
    min_capacity = var.aurora_min_acu
    max_capacity = var.aurora_max_acu
  }
}

resource "aws_rds_cluster_instance" "main" {
  count                           = 2
  identifier                      = "${var.name}-${count.index}"
  cluster_identifier              = aws_rds_cluster.main.id
  instance_class                  = "db.serverless"
  engine                          = aws_rds_cluster.main.engine
  engine_version                  = aws_rds_cluster.main.engine_version
  db_subnet_group_name            = aws_db_subnet_group.main.name
  auto_minor_version_upgrade      = true
  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.main.arn
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.rds_monitoring.arn
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.assume["monitoring.rds.amazonaws.com"].json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_proxy" "main" {
  name                   = var.name
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.proxy.arn
  vpc_subnet_ids         = local.private_subnet_ids
  vpc_security_group_ids = [aws_security_group.database.id]
  require_tls            = true
  idle_client_timeout    = 1800
  debug_logging          = false

  auth {
    auth_scheme = "SECRETS"
    secret_arn  = aws_rds_cluster.main.master_user_secret[0].secret_arn
    iam_auth    = "DISABLED"
  }
}

resource "aws_db_proxy_default_target_group" "main" {
  db_proxy_name = aws_db_proxy.main.name
  connection_pool_config {
    max_connections_percent = 90
  }
}

resource "aws_db_proxy_target" "main" {
  db_proxy_name         = aws_db_proxy.main.name
  target_group_name     = aws_db_proxy_default_target_group.main.name
  db_cluster_identifier = aws_rds_cluster.main.id
}

resource "aws_iam_role" "proxy" {
  name               = "${var.name}-rds-proxy"
  assume_role_policy = data.aws_iam_policy_document.assume["rds.amazonaws.com"].json
}

resource "aws_iam_role_policy" "proxy" {
  role = aws_iam_role.proxy.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = aws_rds_cluster.main.master_user_secret[0].secret_arn
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = aws_kms_key.main.arn
      },
    ]
  })
}
