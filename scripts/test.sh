#!/usr/bin/env bash
# Install everything, then run the whole test suite (the command CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python -m pytest -q "$@"
