#!/usr/bin/env bash
# The one test command (README, .ci/run): sets the machine up (idempotent), then runs unit tests
# (plain Node), Docker tests (real dockerd) and extension tests (real VS Code extension host),
# and ends with one line "N passed, N failed".
#   scripts/test.sh [unit|docker|host|ui ...]
set -uo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/setup.sh --with-claude; then
  echo "setup failed (see above)"
  echo "0 passed, 1 failed"
  exit 1
fi
exec node scripts/test.mjs "$@"
