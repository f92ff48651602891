#!/usr/bin/env bash
# Install everything, train a small model on the sample the repository carries, then tag with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
run_dir="runs/demo/$(date +%Y%m%d-%H%M%S)"
tagger train data=sample trainer.max_epochs=15 "hydra.run.dir=$run_dir"
tagger eval "$run_dir/model.safetensors" tests/data/en_sample_dev.conllu
echo "The quick brown fox jumps over the lazy dog. It didn't stop." |
  tagger tag --model "$run_dir/model.safetensors" --output-format tsv -
