variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name (functions are <name>-<function>)."
  type        = string
  default     = "clinic-scheduling"
}

variable "lambda_artifacts_dir" {
  description = "Where `cargo lambda build --release --arm64 --output-format zip` left the zips (<dir>/<function>/bootstrap.zip)."
  type        = string
  default     = "../target/lambda"
}

# --- network ----------------------------------------------------------------------------
variable "vpc_id" {
  description = "An existing VPC to deploy into. Null creates a VPC (3 private subnets, NAT gateway)."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Private subnets (one per AZ, 3 for MSK) of the existing VPC; required with vpc_id. They need a route to the AWS APIs (NAT or VPC endpoints for Glue, Secrets Manager, SES)."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when vpc_id is null."
  type        = string
  default     = "10.40.0.0/16"
}

# --- MSK ----------------------------------------------------------------------------------
variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
  default     = "3.8.x"
}

variable "msk_broker_instance_type" {
  description = "MSK broker instance type (3 brokers, one per AZ)."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_broker_volume_gb" {
  description = "EBS storage per broker, GiB."
  type        = number
  default     = 100
}

# --- database -----------------------------------------------------------------------------
variable "aurora_engine_version" {
  description = "Aurora PostgreSQL engine version."
  type        = string
  default     = "16.6"
}

variable "aurora_min_acu" {
  description = "Aurora Serverless v2 minimum capacity (ACU)."
  type        = number
  default     = 0.5
}

variable "aurora_max_acu" {
  description = "Aurora Serverless v2 maximum capacity (ACU)."
  type        = number
  default     = 8
}

variable "deletion_protection" {
  description = "Protect the database cluster from deletion (set false only for throw-away stacks)."
  type        = bool
  default     = true
}

# --- application ----------------------------------------------------------------------------
variable "schema_registry_name" {
  description = "Glue Schema Registry holding the schemas in ../schemas."
  type        = string
  default     = "clinic-scheduling"
}

variable "confirmation_sender" {
  description = "SES email identity the confirmation emails are sent from (verify it after apply)."
  type        = string
  default     = "appointments@eyecare-callcenter.example"
}

variable "saga_insurance_deadline_seconds" {
  description = "How long a booking may wait for insurance verification before it is cancelled."
  type        = number
  default     = 300
}

variable "saga_confirmation_deadline_seconds" {
  description = "How long a booking may wait for its confirmation email before it is cancelled."
  type        = number
  default     = 600
}

variable "retention_outbox_days" {
  description = "Days a published outbox row (it may carry a patient's name and email) is kept before purge-expired deletes it."
  type        = number
  default     = 7
}

variable "retention_processed_days" {
  description = "Days a consumer's processed-message marker is kept; must exceed the topics' retention (7 days)."
  type        = number
  default     = 8
}

variable "auth_issuer" {
  description = "JWT issuer (the `iss` claim) trusted by the API Gateway authorizer and the api function, e.g. https://cognito-idp.<region>.amazonaws.com/<pool-id>. null: create a Cognito user pool for the agents (cognito.tf) and trust it."
  type        = string
  default     = null
}

variable "auth_audience" {
  description = "The JWT audience accepted by the authorizer and the api function: the `aud` claim, or for a Cognito access token (no `aud`) its `client_id`, the app client id. Required with auth_issuer; ignored without it (the created app client's id is used)."
  type        = string
  default     = null
}

variable "auth_jwks_url" {
  description = "JWKS URL of the issuer; null derives <auth_issuer>/.well-known/jwks.json (Cognito, Auth0, Okta)."
  type        = string
  default     = null
}

variable "lambda_memory_mb" {
  description = "Memory of every function."
  type        = number
  default     = 256
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of every log group (logs carry ids only, never PHI)."
  type        = number
  default     = 365
}

# --- alarms -------------------------------------------------------------------------------
variable "alarm_email" {
  description = "Email subscribed to the alarm topic (DLQ arrivals, consumer lag). Null: no subscription."
  type        = string
  default     = null
}

variable "consumer_lag_threshold" {
  description = "Alarm when a mapping's consumer group lags more than this many records (summed over partitions) for 5 minutes."
  type        = number
  default     = 1000
}
