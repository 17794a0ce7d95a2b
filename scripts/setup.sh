#!/usr/bin/env bash
# Installs and starts what the product needs on a fresh Debian machine, skipping what is
# already there: PostgreSQL (running, reachable on 127.0.0.1:5432 as postgres/postgres), a
# Python venv with moto (the local AWS stand-in) and the deployment tools (cfn-lint, SAM CLI,
# checkov, cargo-lambda, zig), the build packages rdkafka needs (cmake, libcurl headers), the
# tansu Kafka broker (built from crates.io once, 10-16 minutes on two cores; reused afterwards)
# and cargo-deny. `--with-browser` also installs Debian's Chromium, which the dashboard's
# browser tests drive (scripts/test.sh asks for it; running the system does not). Safe to run
# again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
with_browser=""
[ "${1:-}" = "--with-browser" ] && with_browser=1

say() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- PostgreSQL -------------------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  apt_install postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
# A fresh Debian cluster asks for a password over TCP: give the local superuser a known one.
# (Where the server trusts 127.0.0.1, the password is simply ignored.)
if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  say "setting the local postgres password"
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
fi

# --- moto (AWS stand-in: Glue Schema Registry, SES v2, Secrets Manager) ------------------
if [ ! -x .venv/bin/moto_server ]; then
  say "creating .venv with moto[server]"
  python3 -m venv .venv 2>/dev/null || { apt_install python3-venv; python3 -m venv .venv; }
  .venv/bin/pip install -q --disable-pip-version-check 'moto[server]>=5.1,<6'
fi

# --- cloud deployment tooling: IaC validators, cargo-lambda (+ zig to cross-compile arm64) -------
# (ziglang installs python-zig; cargo-lambda finds zig through it.)
missing=()
for tool in cfn-lint:cfn-lint sam:aws-sam-cli checkov:checkov cargo-lambda:cargo-lambda python-zig:ziglang; do
  [ -x ".venv/bin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "${missing[@]}"
fi

# --- Kafka: rdkafka's bundled librdkafka build, and the tansu broker ----------------------
apt_install cmake libcurl4-openssl-dev
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null 2>&1; then
  say "installing tansu 0.6.0 with its SQLite storage (once; 10-16 minutes on two cores)"
  cargo install tansu --version 0.6.0 --locked --features libsql --quiet
fi

# --- cargo-deny: the dependency policy (deny.toml) the test command checks --------------------
if ! command -v cargo-deny >/dev/null 2>&1; then
  say "installing cargo-deny (once; a few minutes)"
  cargo install cargo-deny --version 0.20.2 --locked --quiet
fi

# --- Chromium for the dashboard's browser tests (playwright-core drives /usr/bin/chromium) --
if [ -n "$with_browser" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

say "set-up complete"
