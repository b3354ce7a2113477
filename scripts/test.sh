#!/usr/bin/env bash
# Install muse with test extras and run the test suite (slow tests too when MUSE_SLOW=1).
set -euo pipefail
cd "$(dirname "$0")/.."
MUSE_EXTRAS=test,image bash scripts/setup.sh
marker="not slow"
[ "${MUSE_SLOW:-0}" = "1" ] && marker=""
exec .venv/bin/python -m pytest -q -m "$marker" "$@"
