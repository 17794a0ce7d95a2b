# Alarms to one SNS topic: a record arriving on any dead-letter topic (the "DLQ depth" grows:
# nothing consumes the DLQs, an operator inspects and replays them), and any mapping whose
# consumer group lags. MSK's per-topic metrics carry a broker dimension, so the DLQ alarm sums
# the three brokers.

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each            = toset(local.dead_letters)
  alarm_name          = "${var.name}-dlq-${each.key}"
  alarm_description   = "Records arrived on the dead-letter topic ${each.key}: a function gave up on them."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "arrivals"
    expression  = "SUM(METRICS())"
    label       = "records in ${each.key}"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = range(1, aws_msk_cluster.main.number_of_broker_nodes + 1)
    content {
      id = "broker${metric_query.value}"
      metric {
        namespace   = "AWS/Kafka"
        metric_name = "MessagesInPerSec"
        period      = 300
        stat        = "Maximum"
        dimensions = {
          "Cluster Name" = aws_msk_cluster.main.cluster_name
          "Broker ID"    = tostring(metric_query.value)
          "Topic"        = each.key
        }
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "consumer_lag" {
  for_each            = local.mappings
  alarm_name          = "${var.name}-lag-${each.value.consumer_group}"
  alarm_description   = "${each.value.function} lags on ${each.value.topic} (consumer group ${each.value.consumer_group})."
  namespace           = "AWS/Kafka"
  metric_name         = "SumOffsetLag"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.consumer_lag_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  dimensions = {
    "Cluster Name"   = aws_msk_cluster.main.cluster_name
    "Consumer Group" = each.value.consumer_group
    "Topic"          = each.value.topic
  }
}
