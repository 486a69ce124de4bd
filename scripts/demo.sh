#!/usr/bin/env bash
# README command 1: set the host up, then run a real container in a VM.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bundle=/var/lib/runv/demo-bundle
scripts/make-busybox-bundle.sh "$bundle" >/dev/null
echo "runv: running a container from $bundle in a VM..." >&2
exec ./bin/run.js run --bundle "$bundle" "demo-$$"
