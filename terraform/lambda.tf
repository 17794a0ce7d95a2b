# One Lambda per function of catalogue.json (provided.al2023, arm64, the `cargo lambda build`
# zip), each with its own role (least privilege), log group and, for Kafka-triggered ones, one
# event-source mapping per topic with its consumer group and a Kafka on-failure destination.

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda.amazonaws.com"].json
}

# ENIs in the VPC (the managed policy scopes what it can; EC2 ENI actions take no resource ARNs).
resource "aws_iam_role_policy_attachment" "vpc" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

locals {
  topic_arn = "${local.msk_arn_prefix}:topic/${local.msk_cluster_path}"
  group_arn = "${local.msk_arn_prefix}:group/${local.msk_cluster_path}"

  function_statements = {
    for name, f in local.functions : name => concat(
      [
        {
          Sid      = "OwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.function[name].arn}:*"
        },
        {
          Sid      = "DatabaseSecret"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = aws_rds_cluster.main.master_user_secret[0].secret_arn
        },
        {
          Sid      = "DecryptWithTheKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = aws_kms_key.main.arn
        },
        {
          # Every function publishes the outbox right after its commit (and the relay sweeps).
          Sid      = "ProduceToTopics"
          Effect   = "Allow"
          Action   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
          Resource = aws_msk_cluster.main.arn
        },
        {
          # Not only the function's own topics (`produces` and its mappings' dead-letter topics),
          # on purpose: the publisher (shared/messaging/src/publisher.rs, publish_pending) sends
          # EVERY unpublished outbox row in id order, not just the rows this function wrote, so a
          # row another function left behind (its own publish failed, or it lost the publisher
          # lock) goes out with ours. Without write access to that row's topic the whole round
          # would fail: our rows would wait for the relay's next sweep (up to a minute) and the
          # rows already sent would go out twice. Narrowed instead to this cluster and to the
          # topics an outbox row can name (local.outbox_topics): the integrations' command topics
          # nobody here writes (appointments.commands.schedule, appointments.commands.complete)
          # and unconsumed dead-letter topics stay out. Per-function topics would need a publisher
          # that takes only its own rows; with one database user for all functions that would not
          # confine a compromised function anyway (it could insert an outbox row for the relay).
          Sid      = "WriteOutboxTopics"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
          Resource = [for t in local.outbox_topics : "${local.topic_arn}/${t}"]
        },
      ],
      f.glue ? [{
        Sid    = "ReadSchemas"
        Effect = "Allow"
        Action = ["glue:GetSchemaVersion", "glue:GetSchemaByDefinition"]
        Resource = [
          aws_glue_registry.main.arn,
          "arn:${local.partition}:glue:${var.region}:${local.account_id}:schema/${aws_glue_registry.main.registry_name}/*",
        ]
      }] : [],
      contains(f.env, "ses") ? [{
        Sid      = "SendConfirmations"
        Effect   = "Allow"
        Action   = ["ses:SendEmail"]
        Resource = aws_sesv2_email_identity.sender.arn
      }] : [],
      length(f.mappings) > 0 ? [
        {
          # The event-source mapping polls with the function's role.
          Sid      = "MappingFindsTheCluster"
          Effect   = "Allow"
          Action   = ["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers", "kafka-cluster:DescribeClusterDynamicConfiguration"]
          Resource = aws_msk_cluster.main.arn
        },
        {
          Sid      = "MappingReadsItsTopics"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
          Resource = distinct([for m in f.mappings : "${local.topic_arn}/${m.topic}"])
        },
        {
          Sid      = "MappingOwnsItsGroups"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
          Resource = [for m in f.mappings : "${local.group_arn}/${m.consumer_group}"]
        },
      ] : [],
    )
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.function_statements[each.key]
  })
}

resource "aws_lambda_function" "function" {
  for_each = local.functions
  # checkov:skip=CKV_AWS_116: every trigger is synchronous (Kafka ESM, API Gateway) or a schedule whose next run retries; Kafka failures go to the mapping's on-failure topic, not a Lambda DLQ.
  # checkov:skip=CKV_AWS_272: code signing needs a Signer profile and signed artifacts from CI; the zips are built from this repository by `cargo lambda build`.
  # checkov:skip=CKV_AWS_115: concurrency is bounded by the mappings' pollers (MaximumPollers) and API Gateway throttling; a reserved limit per function would only add a second knob.
  function_name    = "${var.name}-${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = "${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip")
  memory_size      = var.lambda_memory_mb
  timeout          = each.value.timeout
  kms_key_arn      = aws_kms_key.main.arn

  environment {
    variables = merge(local.env_common, [for group in each.value.env : local.env_groups[group]]...)
  }

  vpc_config {
    subnet_ids         = local.private_subnet_ids
    security_group_ids = [aws_security_group.functions.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  depends_on = [aws_iam_role_policy.function, aws_iam_role_policy_attachment.vpc]
}

resource "aws_lambda_event_source_mapping" "kafka" {
  for_each                           = local.mappings
  function_name                      = aws_lambda_function.function[each.value.function].arn
  event_source_arn                   = aws_msk_cluster.main.arn
  topics                             = [each.value.topic]
  starting_position                  = each.value.starting_position
  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.batching_window_seconds
  maximum_retry_attempts             = each.value.maximum_retry_attempts
  bisect_batch_on_function_error     = each.value.bisect_batch_on_function_error
  function_response_types            = each.value.report_batch_item_failures ? ["ReportBatchItemFailures"] : []

  amazon_managed_kafka_event_source_config {
    consumer_group_id = each.value.consumer_group
  }

  provisioned_poller_config {
    minimum_pollers = each.value.minimum_pollers
    maximum_pollers = each.value.maximum_pollers
  }

  destination_config {
    on_failure {
      destination_arn = "kafka://${each.value.dead_letter}"
    }
  }
}
