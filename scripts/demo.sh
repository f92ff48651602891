#!/usr/bin/env bash
# Install everything; tag a sentence with the shipped English model; then train your own small
# model on the sample shipped in the package, evaluate it and tag the same sentence with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
source scripts/python_env.sh  # the Python install.sh installed into, and its tagger command
sentence="The quick brown fox jumps over the lazy dog. It didn't stop."

# the figure is the model card's, read from it: a copy here went stale once
upos=$("$PYTHON" -c 'from tagger.inference.packages import shipped_infos; print("%.2f" % shipped_infos()["en_ewt"].scores["UPOS"])')
echo "== The shipped English model (UD English-EWT, test UPOS $upos, from the card in its model file):"
echo "$sentence" | "$BIN/tagger" tag --output-format tsv -

echo "== How to train your own: 15 epochs on a 400-sentence sample (a toy: expect mistakes)"
run_dir="runs/demo/$(date +%Y%m%d-%H%M%S)"
"$BIN/tagger" train data=sample trainer.max_epochs=15 segmenter.training.max_steps=1000 "hydra.run.dir=$run_dir"
"$BIN/tagger" eval "$run_dir/model.safetensors" tagger/samples/en_sample_dev.conllu   # the sample's only held-out file: dev
echo "$sentence" | "$BIN/tagger" tag --model "$run_dir/model.safetensors" --output-format tsv -
