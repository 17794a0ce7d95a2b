#!/usr/bin/env bash
# Offline validation of both deployments: cfn-lint and SAM (lint + plain validate, which catches
# misspelt event properties lint misses) on template.yaml; terraform init/validate on terraform/
# with the local provider mirror (skipped, with the reason, where terraform or the mirror is
# missing); checkov on terraform/ (every suppression is justified next to it). No network, no
# AWS account. The tools come from .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

echo "==> cfn-lint template.yaml"
cfn-lint template.yaml
echo "==> sam validate --lint"
sam validate --lint >/dev/null
echo "==> sam validate (region $AWS_DEFAULT_REGION)"
sam validate >/dev/null

# A mirror holds registry.terraform.io/hashicorp/aws/<version>/<os_arch>; TF_PLUGIN_DIR names one.
plugin_dir="${TF_PLUGIN_DIR:-}"
if [ -z "$plugin_dir" ]; then
  for candidate in /opt/tf-plugins "$HOME/.terraform.d/plugins" /usr/share/terraform/plugins; do
    if [ -d "$candidate/registry.terraform.io/hashicorp/aws" ]; then plugin_dir="$candidate"; break; fi
  done
fi
if ! command -v terraform >/dev/null 2>&1; then
  echo "==> terraform validate SKIPPED: no terraform binary on PATH"
elif [ -z "$plugin_dir" ]; then
  echo "==> terraform validate SKIPPED: no local mirror of hashicorp/aws (set TF_PLUGIN_DIR)"
else
  echo "==> terraform validate (provider mirror $plugin_dir)"
  tf_data=$(mktemp -d)
  trap 'rm -rf "$tf_data"' EXIT
  # Keep init's state out of the tree and any user CLI config (network mirrors) out of the run.
  export TF_DATA_DIR="$tf_data" TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1
  # (init writes terraform/.terraform.lock.hcl, gitignored: a deployer's own init pins the provider.)
  terraform -chdir=terraform init -backend=false -input=false -plugin-dir="$plugin_dir" >/dev/null
  terraform -chdir=terraform validate -no-color
  terraform -chdir=terraform fmt -check -recursive
fi

echo "==> checkov terraform/"
checkov -d terraform --framework terraform --skip-download --quiet --compact
