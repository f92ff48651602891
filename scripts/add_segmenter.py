"""Give a trained model the learned segmenter that `tagger train` would have learned: a new model file.

For model files trained with `segmenter.learn=false` (or before segmenters existed): learns the
segmenter from the treebank's train/dev CoNLL-U with the settings of conf/train.yaml (the same
function, settings and seed as the segmenter phase of `tagger train`), and writes the tagger's
network, vocabularies and stored tables unchanged beside it in a new file. The input file is never
overwritten. `--segmenter` takes a segmenter that `scripts/segmenter_experiment.py --save` wrote
instead of learning one.

    python scripts/add_segmenter.py runs/lemma/fr_sequoia/model.safetensors ../shared/data/ud/fr_sequoia \\
        --output runs/lemma/fr_sequoia/model+segmenter.safetensors
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from safetensors.torch import load_file

from tagger.data.conllu_io import read_conllu
from tagger.model.model_file import load_model, save_model
from tagger.model.segmenter import Segmenter
from tagger.training.segmenter_training import default_configs, train_segmenter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("treebank", type=Path, help="folder with train.conllu and dev.conllu")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--segmenter", type=Path, help="a segmenter saved by segmenter_experiment.py --save (metadata beside, .json)")
    args = parser.parse_args()
    if args.output.exists():
        sys.exit(f"add_segmenter: error: {args.output} exists; remove it first")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)

    bundle = load_model(args.model)
    if args.segmenter:
        metadata = json.loads(args.segmenter.with_suffix(".json").read_text(encoding="utf-8"))
        segmenter, report = Segmenter.from_metadata(metadata, load_file(str(args.segmenter))), {"from": str(args.segmenter)}
    else:
        network_config, training_config = default_configs()
        train = read_conllu(args.treebank / "train.conllu")
        segmenter, report = train_segmenter(train, read_conllu(args.treebank / "dev.conllu"), network_config,
                                            training_config, source=str(args.treebank / "train.conllu"))
        report = {"segmenter_dev": report["dev"], "minutes": report["minutes"]}
    provenance = {**bundle.provenance, "segmenter_added_by": f"scripts/add_segmenter.py {args.model} {args.treebank}"}
    save_model(args.output, bundle.network, bundle.vocabs, provenance, segmenter=segmenter)
    print(json.dumps({"model": str(args.output), **report}))


if __name__ == "__main__":
    main()
