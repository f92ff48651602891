"""`tagger` command line: train, eval, tag, package, models, download and serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from tagger.atomic_file import atomic_write
from tagger.cli_errors import train_option_error, unrecognized_message
from tagger.errors import DEBUG_ENV, TaggerError
from tagger.packaging.commands import add_commands, download_command, models_command, package_command
from tagger.serving.command import add_serve_command, serve_command

# Idle OpenMP threads sleep instead of spinning: beside another busy process on the same cores,
# spinning threads made tagging 12x slower, sleeping ones under 2x (scripts/bench_peer.py's notes).
# It must be set before torch is first imported; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _train(argv: list[str], debug: bool) -> int:
    import runpy

    # Hydra raises config errors instead of printing them (main() turns them into one line); the
    # variables reach every process Lightning starts for DDP.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    if debug:
        os.environ[DEBUG_ENV] = "1"
    mistake = train_option_error(argv)  # Hydra would print its whole usage text for it
    if mistake:
        raise TaggerError(mistake)
    # Run the entry point as `python -m tagger.training.train OVERRIDES` would: Lightning's DDP
    # launcher restarts the main module with the same arguments in every further process.
    sys.argv = ["tagger train", *argv]
    runpy.run_module("tagger.training.train", run_name="__main__", alter_sys=True)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tagger.data.conllu_io import write_conllu
    from tagger.cli_tag import check_output_file
    from tagger.data.readers import guess_format
    from tagger.device import resolve_device
    from tagger.evaluation.evaluate import evaluate_file, evaluate_raw
    from tagger.inference.tagger import Tagger
    from tagger.prediction.precision import ieee_float32_in_this_process

    check_output_file(args.output, args.force)  # before the model is loaded or anything tagged
    output = Path(args.output) if args.output else None
    device = resolve_device(args.device, option="--device ")
    # the model's scores, whatever the device: float32 (on a GPU without TF32), as on every CPU
    ieee_float32_in_this_process()
    tagger = Tagger.load(args.model, precision="float32", tokenizer=args.tokenizer, device=device)
    if args.raw:
        if (args.format or guess_format(args.file)) != "conllu":
            raise TaggerError("--raw needs a CoNLL-U gold file (its raw text comes from # text and SpaceAfter=No)")
        tag_text = lambda text: [s.sentence for s in tagger.tag(text, input_format="raw")]  # noqa: E731
        evaluation = evaluate_raw(args.file, tag_text, tagger.columns)
    else:
        fields = args.fields.split(",") if args.fields else None
        evaluation = evaluate_file(tagger.predictor, args.file, args.format or guess_format(args.file), fields, args.scheme)
    if output:
        with atomic_write(output) as temporary, temporary.open("w", encoding="utf-8") as stream:
            write_conllu(evaluation.predicted, stream)
    if args.json:  # a column the gold file does not annotate is null: no score, neither 0 nor 100
        print(json.dumps({**evaluation.scores, **dict.fromkeys(evaluation.not_annotated)}))
    else:
        for name, value in evaluation.scores.items():
            print(f"{name:12s} {value:6.2f}")
        for name in evaluation.not_annotated:
            print(f"{name:12s} not annotated")
    return 0


def _tag(args: argparse.Namespace) -> int:
    from tagger.cli_tag import run_tag

    return run_tag(args)


def _version(verbose: bool) -> int:
    from tagger import __version__

    print(f"tagger {__version__}")
    if verbose:
        import torch

        from tagger.inference.packages import all_models
        from tagger.inference.shipped import SHIPPED_DIR

        print(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
        print(f"python {sys.version.split()[0]}")
        models = all_models()
        for kind, where in (("installed", ""), ("shipped", f" in {SHIPPED_DIR}")):
            listed = ", ".join(f"{info.name} {info.version} ({info.language or 'no language'})" for info in models if info.kind == kind)
            print(f"{kind} models: {listed}{where}" if listed else f"{kind} models: none")
    return 0


DEVICE_HELP = "where the network runs: cpu, cuda, cuda:N, or auto (a GPU if there is one; default)"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end in one line, like every other error; --help shows the usage. Each parser
    refuses its own unknown options, so the line names the subcommand (`tagger tag: error: ...`)."""

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 (argparse's signature)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(unrecognized_message(extras, self._option_string_actions))
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tagger", description="Sequence tagging with character-level word embeddings.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--version", action="store_true", help="print the version (with -v: torch and the installed and shipped models too)")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --version: more detail")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "train",
        help="train a model (Hydra overrides follow, e.g. data=en_ewt model/cle=cnn trainer.max_epochs=30)",
        add_help=False,
    )
    _add_eval(commands)
    _add_tag(commands)
    add_commands(commands)
    add_serve_command(commands, DEVICE_HELP)
    return parser


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="score a model on a gold file (CoNLL-U, UNER .iob2 or a column file)")
    evaluate.add_argument("model", help="model file, or the name of an installed or shipped model")
    evaluate.add_argument("file", help="gold file")
    evaluate.add_argument("--format", choices=["conllu", "uner", "columns"],
                          help="format of the gold file (default: by its content: CoNLL-U, UNER (5 columns) or a column file)")
    evaluate.add_argument("--fields", help="columns of a column file, comma-separated (default form,ner; CoNLL-2003: form,xpos,chunk,ner)")
    evaluate.add_argument("--scheme", default="auto", choices=["auto", "iob1", "iob2", "bioes"],
                          help="entity tag scheme of the file, read into IOB2 (default: auto)")
    evaluate.add_argument("--output", "-o", help="write the predictions as CoNLL-U here")
    evaluate.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.add_argument("--tokenizer", choices=["auto", "learned", "rules"], default="auto",
                          help="with --raw: the model's learned segmenter or the rule tokenizer (default: learned if there is one)")
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP + " (scores are float32 on every device)")
    evaluate.add_argument("--raw", action="store_true",
                          help="tag the gold file's raw text with the whole pipeline and score it the CoNLL 2018 way "
                               "(Tokens, Sentences, Words F1, then tag F1 over aligned words)")


def _add_tag(commands: argparse._SubParsersAction) -> None:
    tag = commands.add_parser("tag", help="tag raw text, pre-tokenised text or CoNLL-U (streams stdin to stdout)")
    tag.add_argument("input", nargs="*", metavar="TEXT|FILE|-",
                     help="one or more files (tagged in order into one output), text to tag, or - for stdin (default). "
                          "Arguments that all name files are files; when they all name paths or look like paths "
                          "(a / or an extension such as .txt) and one exists, a directory or a missing file among them "
                          "is an error; anything else is text, its words joined (a text that looks like a path but names "
                          "no file is tagged with a note on stderr; --text or stdin take any text without one)")
    tag.add_argument("--text", help="tag this text, whatever it looks like")
    tag.add_argument("--model", "-m",
                     help="model file, or a name: an installed model package, a shipped model, or a language code "
                          "with one model (default: the model of --language, else en_ewt; `tagger models` lists them)")
    tag.add_argument("--input-format", "-i", choices=["raw", "lines", "tokenized", "conllu"],
                     help="raw text; raw text with one sentence a line (never split or joined); one pre-tokenised "
                          "sentence a line; or CoNLL-U (default: CoNLL-U if the input looks like it, else raw)")
    tag.add_argument("--output-format", "-f", choices=["conllu", "tsv", "json"],
                     help="CoNLL-U, FORM and predicted columns as TSV, or JSON Lines (one sentence a line); default: "
                          "from --output's extension (.json/.jsonl, .tsv, .conllu), else json with --probabilities "
                          "or --top-k, else conllu")
    tag.add_argument("--output", "-o", help="write here instead of stdout")
    tag.add_argument("--output-dir", metavar="DIR",
                     help="one output per input file: DIR/NAME.conllu (.tsv, .jsonl) for each file NAME.*")
    tag.add_argument("--force", action="store_true", help="overwrite --output (or the files in --output-dir) if they exist")
    tag.add_argument("--no-header", dest="header", action="store_false",
                     help="TSV: leave out the header line ('# id form upos ...', which tools skipping comments pass over)")
    tag.add_argument("--probabilities", action="store_true", help="add each predicted tag's probability (json, tsv)")
    tag.add_argument("--top-k", type=int, default=0, metavar="K", help="add each word's K most probable tags per column (json, tsv; all of them where a column has fewer)")
    tag.add_argument("--threads", type=int, help="torch CPU threads (default: every core; with --workers, per worker: "
                                                 "the cores shared out; with --engine ray, 1 per actor)")
    tag.add_argument("--workers", type=int, metavar="N",
                     help="tag in N processes (output in input order, memory flat); this one reads and segments "
                          "(default: 1; with --engine ray, N actors, by default the cluster's CPUs / --threads, or its GPUs)")
    tag.add_argument("--device", default="auto", help=DEVICE_HELP + "; with --workers N, one worker per GPU")
    tag.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="local: this machine (default); ray: each file tagged in Ray actors, one model loaded per "
                          "actor, outputs written here (needs --output-dir; pip install \"tagger[ray]\"; docs/cluster.md)")
    tag.add_argument("--address", metavar="auto|HOST:PORT",
                     help="with --engine ray: the Ray cluster to use (auto: the one running on this machine); "
                          "default: a Ray instance started for this command, sized to this machine")
    tag.add_argument("--precision", choices=["auto", "float32", "bfloat16", "int8"], default="auto",
                     help="arithmetic of the network: auto is bfloat16 where the device computes it natively "
                          "(a GPU with bfloat16, a CPU with AVX512-BF16/AMX; same accuracy, 2-3x faster), else float32; "
                          "int8: dynamic quantization on a CPU (same accuracy, ~1.4x float32's speed; tags may depend "
                          "on the batch)")
    tag.add_argument("--tokenizer", choices=["auto", "learned", "rules"], default="auto",
                     help="raw text: the model's learned segmenter, or the rule tokenizer (default: learned if the model has one)")
    tag.add_argument("--language", help="ISO 639 code of the text, e.g. fr: without --model, picks that language's model; "
                                        "the model must be trained on it (default: the model's language)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = argv[0] if argv and argv[0] in ("train", "eval", "tag", "package", "models", "download", "serve") else None
    prefix = f"tagger {command}" if command else "tagger"  # every error: `tagger <command>: error: ...`
    try:
        if command == "train":
            return _train(argv[1:], debug)
        if "--version" in argv and command is None:
            return _version(verbose="-v" in argv or "--verbose" in argv)
        args = build_parser().parse_args(argv)
        commands = {"eval": _eval, "tag": _tag, "package": package_command, "models": models_command,
                    "download": download_command, "serve": serve_command}
        return commands[args.command](args)
    except TaggerError as error:
        if debug:
            raise
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        from tagger.training.config_errors import config_error_message

        message = config_error_message(error)
        if message is None or debug:
            raise
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # Ctrl-C: what was kept (a command that knows says so), and the shell's code
        if str(interrupt):
            print(f"{prefix}: {interrupt}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
