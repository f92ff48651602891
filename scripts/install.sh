#!/usr/bin/env bash
# Install tagger and its test tools into the current Python environment.
# torch comes first and pinned, so pip takes the CPU build instead of pulling CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[dev]"
