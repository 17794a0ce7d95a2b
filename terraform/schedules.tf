# EventBridge Scheduler runs the scheduled functions (outbox-relay, saga-sweeper, purge-expired).
resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler.amazonaws.com"].json
}

resource "aws_iam_role_policy" "scheduler" {
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [for name, _ in local.scheduled : aws_lambda_function.function[name].arn]
    }]
  })
}

resource "aws_scheduler_schedule" "function" {
  for_each                     = local.scheduled
  name                         = "${var.name}-${each.key}"
  schedule_expression          = each.value.schedule
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = aws_kms_key.main.arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = aws_lambda_function.function[each.key].arn
    role_arn = aws_iam_role.scheduler.arn
    # The next run sweeps again: a missed one needs no retry.
    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 60
    }
  }
}
