# MSK: three brokers, IAM authentication only, TLS in transit (client and in-cluster),
# encryption at rest with our key, per-topic metrics for the DLQ and lag alarms. Topics are
# not created here (no Kafka provider offline): `clinic-local create-topics` creates every topic
# of the contract and its dead-letter topic with the catalogue's settings (output
# `create_topics_command`). Auto-creation stays off, so a misspelt topic fails loudly.

resource "aws_msk_configuration" "main" {
  name           = var.name
  kafka_versions = [var.kafka_version]
  server_properties = join("\n", [
    "auto.create.topics.enable=false",
    "default.replication.factor=${local.catalogue.topic_settings.replication_factor}",
    "min.insync.replicas=2",
    "num.partitions=${local.catalogue.topic_settings.partitions}",
    "log.retention.ms=${local.catalogue.topic_settings.retention_ms}",
    "unclean.leader.election.enable=false",
  ])
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/${var.name}/msk"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_msk_cluster" "main" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = 3
  enhanced_monitoring    = "PER_TOPIC_PER_BROKER"

  broker_node_group_info {
    instance_type   = var.msk_broker_instance_type
    client_subnets  = local.private_subnet_ids
    security_groups = [aws_security_group.msk.id]
    storage_info {
      ebs_storage_info {
        volume_size = var.msk_broker_volume_gb
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.main.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.main.arn
    revision = aws_msk_configuration.main.latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }
}
