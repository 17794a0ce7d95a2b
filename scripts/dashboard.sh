#!/usr/bin/env bash
# Builds the dashboard into dashboard/dist (served by `clinic-local up` at /), skipping what is
# fresh: `npm ci` (the committed lockfile) only when node_modules is missing or older than
# package-lock.json, `npm run build` (type check + Vite) only when dist is missing or older
# than a source file. Needs Node.js >= 20.19 and npm >= 11 (Vite 8).
set -euo pipefail
cd "$(dirname "$0")/../dashboard"

say() { printf '==> %s\n' "$*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
  say "npm not found: install Node.js 20.19+ with npm 11 to build the dashboard"
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the dashboard's npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/index.html ] || [ -n "$(find src public index.html package.json package-lock.json tsconfig.json vite.config.ts -newer dist/index.html -print -quit)" ]; then
  say "building the dashboard"
  npm run --silent build -- --logLevel warn
fi
