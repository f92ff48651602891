"""Build the English model shipped inside the package: tagger/shipped_models/en_ewt.safetensors and its card.

One command, from the repository root:

    python scripts/build_english_model.py                          # trains: tagger train data=en_ewt ...
    python scripts/build_english_model.py --from-model runs/x/model.safetensors   # takes a trained model

The weights are stored as float16 (half the size; loading upcasts to float32), the learned
segmenter travels along, the tokenizer language is recorded, and the model card (en_ewt.md)
reports the scores `tagger eval` gives the shipped file on UD English-EWT dev and test -- gold
tokens, and end to end from raw text (`--raw`) --, the data's licence and attribution, and the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from tagger.model.model_file import load_model, save_model

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "tagger" / "shipped_models"
TREEBANK = REPO.parent / "shared" / "data" / "ud" / "en_ewt"
MAX_BYTES = 25_000_000
NAME = "en_ewt"


def run(command: list[str]) -> str:
    print("$", shlex.join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout


def tagger_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tagger.cli", *args]


def train(run_dir: Path, overrides: list[str]) -> Path:
    subprocess.run(tagger_command("train", "data=en_ewt", f"hydra.run.dir={run_dir}", *overrides), cwd=REPO, check=True)
    return run_dir / "model.safetensors"


def evaluate(model: Path, gold: Path, *options: str) -> dict[str, float]:
    return json.loads(run(tagger_command("eval", str(model), str(gold), "--json", *options)).strip().splitlines()[-1])


def ud_release(treebank: Path) -> str:
    provenance = treebank / "PROVENANCE.md"
    match = re.search(r"UD v(\d+\.\d+)", provenance.read_text()) if provenance.is_file() else None
    return f"v{match.group(1)}" if match else "(release unknown)"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def score_table(scores: dict[str, dict[str, float]]) -> str:
    metrics = list(next(iter(scores.values())))
    lines = ["| split | " + " | ".join(metrics) + " |", "|---|" + "--:|" * len(metrics)]
    for split, values in scores.items():
        lines.append(f"| {split} | " + " | ".join(f"{values[m]:.2f}" for m in metrics) + " |")
    return "\n".join(lines)


def model_card(model: Path, provenance: dict, scores: dict, raw_scores: dict, command: str, release: str) -> str:
    config = provenance.get("config", {})
    network = config.get("model", {})
    cle = network.get("cle", {})
    encoder = network.get("encoder", {})
    trainer = config.get("trainer", {})
    segmenter = config.get("segmenter", {}).get("network", {})
    return f"""# en_ewt: English tokens, sentences, UPOS, XPOS, morphological features and lemmas

A character-aware residual BiLSTM tagger trained on **UD English-EWT {release}**. It predicts
UPOS, XPOS (Penn Treebank tags), FEATS and the lemma (an edit script from the form) of every
syntactic word. Raw text is split into sentences and tokens by a character-level segmenter
learned from the same treebank's raw text, which also expands multiword tokens (*don't* ->
*do n't*); `tokenizer="rules"` (`--tokenizer rules`) chooses the package's rule tokenizer instead.

```python
from tagger import Tagger
for token in Tagger.load("en_ewt").tag("I don't like Mondays.")[0].tokens:
    print(token.form, token.upos, token.xpos, token.feats, token.lemma)
```

```sh
tagger tag "I don't like Mondays."                       # CoNLL-U on stdout
tagger tag --input-format conllu --output tagged.conllu corpus.conllu
```

## Scores

Measured on the shipped file with `tagger eval en_ewt <file>` (accuracy over syntactic words,
gold tokenisation, CoNLL 2018 shared task style):

{score_table(scores)}

End to end from raw text, `tagger eval en_ewt <file> --raw`: each file's raw text (its `# text`
lines, paragraphs from `# newpar`) is segmented and tagged by the model, then aligned with the
gold file by characters and scored as F1, as the CoNLL 2018 shared task does:

{score_table(raw_scores)}

## Model

- Word embeddings of {network.get("word_dim")}; character-level word embeddings: {cle.get("type")} (chars {cle.get("char_dim")}, hidden {cle.get("hidden_size", cle.get("filters"))}).
- {encoder.get("layers")} residual BiLSTM layers of {encoder.get("hidden_size")} per direction; one softmax head per column;
  the lemma head classifies each word into an edit script of the form (UDPipe 2 style).
- Segmenter: a character BiLSTM of {segmenter.get("hidden_size")} per direction over windows of {segmenter.get("window")} characters,
  labelling token and sentence ends, with multiword-token expansion; learned after the tagger.
- The character-level embeddings of the word vocabulary are stored in the file, so known words
  skip the character encoder at inference.
- At most {trainer.get("max_epochs")} epochs, best dev UPOS at epoch {provenance.get("best_checkpoint_epoch")}; seed {config.get("seed")}. The full
  training configuration is in the file's metadata (`provenance`).
- Weights stored as float16 ({model.stat().st_size / 1e6:.1f} MB); they load as float32.
- SHA-256 of the shipped file: `{sha256(model)}`.

## Data and licence

Trained on the train split of Universal Dependencies English Web Treebank {release}
(https://github.com/UniversalDependencies/UD_English-EWT), 12,544 sentences / 204,577 words;
selected on dev, scored on test.

UD English-EWT annotations © 2013-2021 The Board of Trustees of The Leland Stanford Junior
University, licensed under the Creative Commons Attribution-ShareAlike 4.0 International License
(CC BY-SA 4.0, https://creativecommons.org/licenses/by-sa/4.0/). The underlying texts come from the
LDC English Web Treebank (LDC2012T13); portions may be © 2012 Google Inc., © 2011 Yahoo! Inc.,
© 2012 Trustees of the University of Pennsylvania and/or © other original authors. As a work
derived from it, this model is distributed under CC BY-SA 4.0 as well.

Cite: Natalia Silveira, Timothy Dozat, Marie-Catherine de Marneffe, Samuel Bowman, Miriam Connor,
John Bauer and Christopher D. Manning (2014). A Gold Standard Dependency Corpus for English.
Proceedings of LREC 2014.

## How it was built

```sh
{command}
```
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-model", type=Path, help="take this trained model file instead of training one")
    parser.add_argument("--run-dir", type=Path, help="where training writes (default: runs/en_ewt_shipped/<time>)")
    parser.add_argument("--treebank", type=Path, default=TREEBANK, help="UD English-EWT directory (dev/test.conllu)")
    parser.add_argument("--output-dir", type=Path, default=MODELS)
    parser.add_argument("overrides", nargs="*", help="extra `tagger train` overrides, e.g. trainer.max_epochs=40")
    args = parser.parse_args()

    if args.from_model:
        source = args.from_model
    else:
        run_dir = args.run_dir or REPO / "runs" / "en_ewt_shipped" / time.strftime("%Y-%m-%d_%H-%M-%S")
        source = train(run_dir, args.overrides)

    bundle = load_model(source)
    # a shipped model rebuilt from itself keeps the hash of the model training wrote
    provenance = relative_paths({**bundle.provenance, "language": "en",
                                 "source_sha256": bundle.provenance.get("source_sha256") or sha256(source)})
    command = build_command(provenance, args.overrides)
    output = args.output_dir / f"{NAME}.safetensors"
    save_model(output, bundle.network, bundle.vocabs, provenance, weights_dtype=torch.float16, segmenter=bundle.segmenter)
    if output.stat().st_size > MAX_BYTES:
        sys.exit(f"{output} is {output.stat().st_size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB budget")

    scores = {split: evaluate(output, args.treebank / f"{split}.conllu") for split in ("dev", "test")}
    raw_scores = {split: evaluate(output, args.treebank / f"{split}.conllu", "--raw") for split in ("dev", "test")}
    card = model_card(output, provenance, scores, raw_scores, command, ud_release(args.treebank))
    (args.output_dir / f"{NAME}.md").write_text(card)
    print(json.dumps({"model": str(output), "bytes": output.stat().st_size, "scores": scores, "raw_scores": raw_scores}, indent=2))


def relative_paths(value):
    """Absolute paths in the recorded config, relative to the repository root: no machine's directories in a shipped file."""
    if isinstance(value, dict):
        return {key: relative_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [relative_paths(item) for item in value]
    if isinstance(value, str) and value.startswith("/"):
        return os.path.relpath(value, REPO)
    return value


def build_command(provenance: dict, overrides: list[str]) -> str:
    """The commands behind a model, run from the repository root: training, then this script on its output."""
    config = provenance.get("config", {})
    run_dir = config.get("run_dir", "RUN_DIR")
    train = shlex.join(["tagger", "train", f"data={provenance.get('data', 'en_ewt')}", f"hydra.run.dir={run_dir}", *overrides])
    if config.get("resume"):  # stopped and continued: the exported model comes from the continuation
        train += "\n" + shlex.join(["tagger", "train", f"resume={run_dir}", f"threads={config.get('threads')}"])
    model = config.get("output_model", f"{run_dir}/model.safetensors")
    return f"{train}\n" + shlex.join(["python", "scripts/build_english_model.py", "--from-model", model])


if __name__ == "__main__":
    main()
