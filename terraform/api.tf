# The HTTP API: every /api/v1 route goes to the api function behind a JWT authorizer (same
# issuer and audience the function checks itself); /api/v1/health (probes) and
# /api/v1/openapi.json (the API's description) stay open, as the function has them.

resource "aws_apigatewayv2_api" "http" {
  name          = var.name
  protocol_type = "HTTP"
  # No CORS: the dashboard reaches the API through its own CloudFront origin (/api/*).
  # The default execute-api endpoint stays on: it is CloudFront's origin for /api/*, and only a
  # custom domain name (a certificate and DNS of the deployer's own) could replace it. Every
  # route on it but health and the OpenAPI document needs the same JWT as through CloudFront.
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.http.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = local.auth_issuer
    audience = [local.auth_audience]
  }
  lifecycle {
    precondition {
      condition     = local.create_user_pool || var.auth_audience != null
      error_message = "auth_audience is required with auth_issuer (for Cognito: the app client id)."
    }
  }
}

resource "aws_apigatewayv2_integration" "api" {
  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.function["api"].invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "api" {
  api_id             = aws_apigatewayv2_api.http.id
  route_key          = "ANY /api/v1/{proxy+}"
  target             = "integrations/${aws_apigatewayv2_integration.api.id}"
  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.jwt.id
}

resource "aws_apigatewayv2_route" "open" {
  # checkov:skip=CKV_AWS_309: the liveness probe and the OpenAPI document must answer without a token; they reveal up/down and the public shape of the API, no data.
  for_each           = toset(["GET /api/v1/health", "GET /api/v1/openapi.json"])
  api_id             = aws_apigatewayv2_api.http.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.api.id}"
  authorization_type = "NONE"
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/${var.name}/api-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_burst_limit = 200
    throttling_rate_limit  = 100
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId = "$context.requestId"
      routeKey  = "$context.routeKey"
      status    = "$context.status"
      latency   = "$context.integrationLatency"
      sub       = "$context.authorizer.claims.sub"
    })
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "api-gateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["api"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*/*"
}
