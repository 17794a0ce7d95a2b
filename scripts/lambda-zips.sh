#!/usr/bin/env bash
# Builds every function's arm64 deployment zip, target/lambda/<function>/bootstrap.zip, with
# cargo lambda (zig as the cross linker), where template.yaml and terraform/ expect them, and
# prints their sizes. librdkafka 2.12's rdkafka_conf.c includes <curl/curl.h> even with OIDC
# off, and the cross compiler does not look in the host's multiarch include directory: the
# curl headers (apt libcurl4-openssl-dev, installed by setup.sh) are copied to a directory of
# their own and given to the aarch64 C compiler only. Nothing links curl.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
curl_header=$(find /usr/include -path '*/curl/curl.h' -print -quit)
[ -n "$curl_header" ] || { echo "no curl/curl.h under /usr/include (apt libcurl4-openssl-dev)" >&2; exit 1; }
include="$PWD/target/cross-include"
rm -rf "$include" && mkdir -p "$include" && cp -r "$(dirname "$curl_header")" "$include/"
export CFLAGS_aarch64_unknown_linux_gnu="-I$include"
# The -p list keeps clinic-local (also a binary of the workspace) out of the zips.
cargo lambda build --release --arm64 --output-format zip $(ls functions | sed 's/^/-p /')
du -h target/lambda/*/bootstrap.zip
