# The agents' identity provider, created only when no auth_issuer is given: a Cognito user pool
# whose access tokens the API Gateway authorizer and the api function accept (audience = the
# app client id, which access tokens carry as client_id). An agent's clinics and role are
# groups, the one thing access tokens carry without a pre-token-generation trigger: one group
# per clinic named clinic:<clinic id> (created by whoever adds a clinic, docs/deploy.md), and
# SUPERVISOR, created here. Agents are added by an administrator; nobody signs up.

resource "aws_cognito_user_pool" "agents" {
  count               = local.create_user_pool ? 1 : 0
  name                = "${var.name}-agents"
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration   = "OPTIONAL"
  username_attributes = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }
}

# The dashboard signs in with the authorization code flow and PKCE as a public client (no
# secret in the browser), on the Cognito hosted domain below; its callback is the dashboard.
resource "aws_cognito_user_pool_client" "dashboard" {
  count                                = local.create_user_pool ? 1 : 0
  name                                 = "${var.name}-dashboard"
  user_pool_id                         = aws_cognito_user_pool.agents[0].id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "profile", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["https://${aws_cloudfront_distribution.dashboard.domain_name}/"]
  logout_urls                          = ["https://${aws_cloudfront_distribution.dashboard.domain_name}/"]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = 1
  id_token_validity                    = 1
  refresh_token_validity               = 12
  token_validity_units {
    access_token  = "hours"
    id_token      = "hours"
    refresh_token = "hours"
  }
}

resource "aws_cognito_user_pool_domain" "agents" {
  count        = local.create_user_pool ? 1 : 0
  domain       = "${var.name}-${local.account_id}"
  user_pool_id = aws_cognito_user_pool.agents[0].id
}

resource "aws_cognito_user_group" "supervisor" {
  count        = local.create_user_pool ? 1 : 0
  name         = "SUPERVISOR"
  description  = "Supervisors: may end other agents' calls and search the whole patient directory."
  user_pool_id = aws_cognito_user_pool.agents[0].id
}
