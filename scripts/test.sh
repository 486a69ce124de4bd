#!/usr/bin/env bash
# README command 2: set the host up, then run the whole test suite (unit first, then guest-init
# black-box tests, then integration tests with real VMs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec npm test
