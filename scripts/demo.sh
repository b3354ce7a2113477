#!/usr/bin/env bash
# Install muse and write a melody (.mid/.wav/.png), a poem (.txt) and an image grid (.png) into demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
MUSE_EXTRAS=${MUSE_EXTRAS:-image} bash scripts/setup.sh
.venv/bin/muse demo --out "${1:-demo-out}"
