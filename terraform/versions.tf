# The same system as ../template.yaml, in Terraform. Only the hashicorp/aws provider is used, so
# `terraform init -backend=false -plugin-dir=<mirror>` + `terraform validate` work offline
# (scripts/validate-iac.sh). Kafka topics are not a Terraform resource here: they are created
# by the project's own topic tool (`clinic-local create-topics`), see the `create_topics_command`
# output and docs/deploy.md.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project = var.name
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  state = "available"
}
