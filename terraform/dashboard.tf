# The dashboard: static files from dashboard/dist in a private S3 bucket behind CloudFront
# (origin access control), with /api/* forwarded to the HTTP API on the same origin, so the
# browser needs no CORS. Upload: `aws s3 sync dashboard/dist s3://<bucket>` (docs/deploy.md).

resource "aws_s3_bucket" "dashboard" {
  # checkov:skip=CKV_AWS_144: the dashboard is a build artifact rebuilt from git; replicating it to a second region buys nothing.
  # checkov:skip=CKV_AWS_18: CloudFront's logs (below) record every read; the bucket has no other readers.
  # checkov:skip=CKV2_AWS_62: nothing reacts to uploads of static files.
  bucket_prefix = "${var.name}-dashboard-"
}

# Both buckets (the dashboard's and CloudFront's logs) are private and versioned.
locals {
  buckets = {
    dashboard = aws_s3_bucket.dashboard.id
    cdn_logs  = aws_s3_bucket.cdn_logs.id
  }
}

resource "aws_s3_bucket_public_access_block" "private" {
  for_each                = local.buckets
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "versioned" {
  for_each = local.buckets
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dashboard" {
  bucket = aws_s3_bucket.dashboard.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dashboard" {
  bucket = aws_s3_bucket.dashboard.id
  rule {
    id     = "old-builds"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "dashboard" {
  bucket = aws_s3_bucket.dashboard.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudFrontReads"
      Effect    = "Allow"
      Principal = { Service = "cloudfront.amazonaws.com" }
      Action    = "s3:GetObject"
      Resource  = "${aws_s3_bucket.dashboard.arn}/*"
      Condition = { StringEquals = { "AWS:SourceArn" = aws_cloudfront_distribution.dashboard.arn } }
    }]
  })
}

resource "aws_cloudfront_origin_access_control" "dashboard" {
  name                              = "${var.name}-dashboard"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# The single-page app routes on the client: a dashboard path without a file extension
# (`/book`, `/appointments/<id>`) is served index.html, so a reload keeps the screen. Only on
# the dashboard's behaviour: /api/* answers as the API does (a 403 stays a problem+json 403).
resource "aws_cloudfront_function" "spa_routes" {
  name    = "${var.name}-spa-routes"
  runtime = "cloudfront-js-2.0"
  comment = "Dashboard routes without a file extension serve index.html"
  publish = true
  code    = <<-EOT
    function handler(event) {
      var request = event.request;
      var last = request.uri.split("/").pop();
      if (last.indexOf(".") === -1) {
        request.uri = "/index.html";
      }
      return request;
    }
  EOT
}

# The dashboard's Content-Security-Policy: dashboard/csp.txt (the local stack serves the same
# file's policy, and the browser tests run under it), with the identity provider's endpoints
# added to connect-src for the OIDC sign-in (discovery, token exchange; Cognito's token
# endpoint is on its hosted domain, *.amazoncognito.com).
locals {
  dashboard_csp = replace(
    trimspace(file("${path.module}/../dashboard/csp.txt")),
    "connect-src 'self'",
    "connect-src 'self' ${regex("^https://[^/]+", local.auth_issuer)} https://*.amazoncognito.com",
  )
}

resource "aws_cloudfront_response_headers_policy" "dashboard" {
  name = "${var.name}-security-headers"
  security_headers_config {
    content_security_policy {
      content_security_policy = local.dashboard_csp
      override                = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "same-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
  }
}

# CloudFront access logs go to a bucket of their own (ACLs are how CloudFront writes logs).
resource "aws_s3_bucket" "cdn_logs" {
  # checkov:skip=CKV_AWS_144: access logs need no second region.
  # checkov:skip=CKV_AWS_18: this is the log bucket; logging it would recurse.
  # checkov:skip=CKV2_AWS_62: nothing reacts to new log objects.
  # checkov:skip=CKV_AWS_145: CloudFront standard logging cannot write to SSE-KMS buckets; SSE-S3 (below) encrypts them.
  bucket_prefix = "${var.name}-cdn-logs-"
}

resource "aws_s3_bucket_ownership_controls" "cdn_logs" {
  # checkov:skip=CKV2_AWS_65: CloudFront standard logging writes through the log-delivery ACL, so ACLs stay enabled on this log bucket only.
  bucket = aws_s3_bucket.cdn_logs.id
  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}



resource "aws_s3_bucket_server_side_encryption_configuration" "cdn_logs" {
  bucket = aws_s3_bucket.cdn_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "cdn_logs" {
  bucket = aws_s3_bucket.cdn_logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_cloudfront_cache_policy" "optimized" {
  name = "Managed-CachingOptimized"
}

data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_but_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

resource "aws_cloudfront_distribution" "dashboard" {
  # checkov:skip=CKV_AWS_68: a WAF web ACL is an account-level choice (cost, rules); attach one with web_acl_id where policy requires it. The API behind it has its own JWT authorizer and throttling.
  # checkov:skip=CKV_AWS_174: with the default *.cloudfront.net certificate CloudFront fixes the minimum TLS version; a custom domain and certificate (and TLSv1.2_2021) are a per-deployment addition.
  # checkov:skip=CKV_AWS_310: the only origin that could fail over is S3 in one region; the static files are redeployable in minutes.
  # checkov:skip=CKV_AWS_374: the call center's users are not restricted by country.
  # checkov:skip=CKV2_AWS_47: no WAF attached (see CKV_AWS_68), so no Log4j rule set to attach.
  # checkov:skip=CKV2_AWS_42: custom certificates come with a custom domain (see CKV_AWS_174).
  enabled             = true
  default_root_object = "index.html"
  price_class         = "PriceClass_100"
  comment             = "${var.name} dashboard"

  origin {
    origin_id                = "dashboard"
    domain_name              = aws_s3_bucket.dashboard.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.dashboard.id
  }

  origin {
    origin_id   = "api"
    domain_name = replace(aws_apigatewayv2_api.http.api_endpoint, "https://", "")
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id           = "dashboard"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.dashboard.id
    compress                   = true
    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.spa_routes.arn
    }
  }

  ordered_cache_behavior {
    path_pattern               = "/api/*"
    target_origin_id           = "api"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_but_host.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.dashboard.id
  }

  logging_config {
    bucket = aws_s3_bucket.cdn_logs.bucket_domain_name
    prefix = "dashboard/"
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
