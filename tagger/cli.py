"""`tagger` command line: train, eval (and tag)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tagger.errors import TaggerError


def _train(argv: list[str]) -> int:
    from tagger.training import train

    sys.argv = ["tagger train", *argv]
    train.main()
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tagger.data.conllu_io import read_conllu, write_conllu
    from tagger.evaluation import tagging_accuracies
    from tagger.inference.tagger import Tagger

    output = Path(args.output) if args.output else None
    if output and output.exists() and not args.force:
        raise TaggerError(f"--output {output} exists; pass --force to overwrite it")
    tagger = Tagger.load(args.model)
    gold = read_conllu(args.file)
    predicted = tagger.predict(read_conllu(args.file))
    scores = tagging_accuracies(gold, predicted, tagger.columns)
    if output:
        with output.open("w", encoding="utf-8") as stream:
            write_conllu(predicted, stream)
    if args.json:
        print(json.dumps(scores))
    else:
        for name, value in scores.items():
            print(f"{name:8s} {value:6.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagger", description="Sequence tagging with character-level word embeddings.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "train",
        help="train a model (Hydra overrides follow, e.g. data=en_ewt model/cle=cnn trainer.max_epochs=30)",
        add_help=False,
    )
    evaluate = commands.add_parser("eval", help="score a model on a CoNLL-U file")
    evaluate.add_argument("model", help="model file or shipped model name")
    evaluate.add_argument("file", help="gold CoNLL-U file")
    evaluate.add_argument("--output", "-o", help="write the predictions as CoNLL-U here")
    evaluate.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if argv and argv[0] == "train":
            return _train(argv[1:])
        args = build_parser().parse_args(argv)
        return {"eval": _eval}[args.command](args)
    except TaggerError as error:
        if debug:
            raise
        print(f"tagger: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
