"""`tagger` command line: train, eval, tag, package and models."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, ContextManager, NoReturn, TextIO

from tagger.atomic_file import atomic_write
from tagger.errors import DEBUG_ENV, TaggerError
from tagger.packaging.commands import add_commands, models_command, package_command

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
    # Run the entry point as `python -m tagger.training.train OVERRIDES` would: Lightning's DDP
    # launcher restarts the main module with the same arguments in every further process.
    sys.argv = ["tagger train", *argv]
    runpy.run_module("tagger.training.train", run_name="__main__", alter_sys=True)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tagger.data.conllu_io import write_conllu
    from tagger.data.readers import guess_format
    from tagger.device import resolve_device
    from tagger.evaluation.evaluate import evaluate_file, evaluate_raw
    from tagger.inference.tagger import Tagger

    output = Path(args.output) if args.output else None
    if output and output.exists() and not args.force:
        raise TaggerError(f"--output {output} exists; pass --force to overwrite it")
    device = resolve_device(args.device, option="--device ")
    # the model's scores, whatever the device: float32 (on a GPU without TF32), as on every CPU
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
    if args.json:
        print(json.dumps(evaluation.scores))
    else:
        for name, value in evaluation.scores.items():
            print(f"{name:12s} {value:6.2f}")
    return 0


def _tag(args: argparse.Namespace) -> int:
    from tagger.device import resolve_device
    from tagger.inference.documents import OUTPUT_FORMATS, TaggedSentence, read_input
    from tagger.inference.tagger import Tagger

    if (args.probabilities or args.top_k) and args.output_format == "conllu":
        raise TaggerError(f"{'--probabilities' if args.probabilities else '--top-k'} needs --output-format json or tsv")
    if args.workers < 1:
        raise TaggerError(f"--workers {args.workers}: give 1 or more processes")
    inputs = _tag_inputs(args.input)
    device = resolve_device(args.device, option="--device ")
    load_options = {"path_or_name": args.model, "language": args.language, "tokenizer": args.tokenizer,
                    "precision": args.precision, "device": device}
    write = OUTPUT_FORMATS[args.output_format]
    if args.workers == 1:
        tagger = Tagger.load(**load_options, threads=args.threads)

        def tag(sentences: Iterable[TaggedSentence]) -> Iterator[str]:
            return map(write, tagger.tag_stream(sentences, args.probabilities, top_k=args.top_k))
    else:  # this process reads and segments; the workers tag and format
        from tagger.inference.workers import default_threads, tag_in_workers, worker_devices

        devices = worker_devices(args.device, device, args.workers)
        tagger = Tagger.load(**load_options, threads=1)
        load_options["threads"] = args.threads or default_threads(args.workers)

        def tag(sentences: Iterable[TaggedSentence]) -> Iterator[str]:
            return tag_in_workers(sentences, load_options, args.workers, args.output_format, args.probabilities, args.top_k,
                                  devices=devices)
    try:
        with _tag_output(args.output, args.force) as output:
            for opened, source, size in inputs:  # several files: one after another, into the one output
                with opened as stream, _progress(source, size) as progress:
                    lines = (progress(line) for line in stream)
                    for text in tag(read_input(lines, source, args.input_format, lambda: tagger.tokenizer)):
                        output.write(text)
    except BrokenPipeError:  # `tagger tag ... | head`: the reader has gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _tag_inputs(words: list[str]) -> list[tuple[ContextManager[BinaryIO], str, int | None]]:
    """(binary stream, name, size in bytes) of each input: stdin for none or "-", the files named, or
    the arguments as one text. Arguments are files or text, never a mix."""
    import io

    if not words or words == ["-"]:
        return [(contextlib.nullcontext(sys.stdin.buffer), "<stdin>", None)]
    files = [Path(word) for word in words]
    if all(path.is_file() for path in files):
        return [(path.open("rb"), str(path), path.stat().st_size) for path in files]
    if any(path.is_file() for path in files):
        missing = next(str(path) for path in files if not path.is_file())
        raise TaggerError(f"{missing}: no such file (the other arguments are files; text to tag goes alone, or on stdin)")
    if len(words) == 1 and files[0].suffix in (".txt", ".conllu", ".tsv"):
        raise TaggerError(f"{words[0]}: no such file (to tag this as text, pipe it on stdin)")
    text = " ".join(words).encode("utf-8")
    return [(io.BytesIO(text), "<text>", len(text))]


@contextlib.contextmanager
def _progress(source: str, size: int | None) -> Iterator[Callable[[bytes], bytes]]:
    """A progress bar on stderr by bytes read, when stderr is a terminal; nothing otherwise (logs, pipes)."""
    if not sys.stderr.isatty():
        yield lambda line: line
        return
    from tqdm import tqdm

    with tqdm(total=size, desc=Path(source).name, unit="B", unit_scale=True, file=sys.stderr, leave=False) as bar:
        def advance(line: bytes) -> bytes:
            bar.update(len(line))
            return line

        yield advance


@contextlib.contextmanager
def _tag_output(path: str | None, force: bool) -> Iterator[TextIO]:
    """stdout, or a file that appears whole once tagging is complete."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    output = Path(path)
    if output.exists() and not force:
        raise TaggerError(f"--output {output} exists; pass --force to overwrite it")
    with atomic_write(output) as temporary, temporary.open("w", encoding="utf-8", newline="\n") as stream:
        yield stream


def _version(verbose: bool) -> int:
    from tagger import __version__

    print(f"tagger {__version__}")
    if verbose:
        import torch

        from tagger.inference.shipped import SHIPPED_DIR, shipped_models

        print(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
        print(f"python {sys.version.split()[0]}")
        print(f"shipped models: {', '.join(shipped_models()) or 'none'} in {SHIPPED_DIR}")
    return 0


DEVICE_HELP = "where the network runs: cpu, cuda, cuda:N, or auto (a GPU if there is one; default)"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end in one line, like every other error; --help shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tagger", description="Sequence tagging with character-level word embeddings.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--version", action="store_true", help="print the version (with -v: torch and the shipped models too)")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --version: more detail")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "train",
        help="train a model (Hydra overrides follow, e.g. data=en_ewt model/cle=cnn trainer.max_epochs=30)",
        add_help=False,
    )
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
    tag = commands.add_parser("tag", help="tag raw text, pre-tokenised text or CoNLL-U (streams stdin to stdout)")
    tag.add_argument("input", nargs="*", metavar="TEXT|FILE|-",
                     help="text to tag, one or more files (tagged in order into one output), or - for stdin (default)")
    tag.add_argument("--model", "-m", default="en_ewt",
                     help="model file, or a name: an installed model package, a shipped model, or a language code "
                          "with one model (default: en_ewt; `tagger models` lists them)")
    tag.add_argument("--input-format", "-i", choices=["raw", "lines", "tokenized", "conllu"],
                     help="raw text; raw text with one sentence a line (never split or joined); one pre-tokenised "
                          "sentence a line; or CoNLL-U (default: CoNLL-U if the input looks like it, else raw)")
    tag.add_argument("--output-format", "-f", choices=["conllu", "tsv", "json"], default="conllu",
                     help="CoNLL-U, FORM and predicted columns as TSV, or JSON Lines (one sentence a line)")
    tag.add_argument("--output", "-o", help="write here instead of stdout")
    tag.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    tag.add_argument("--probabilities", action="store_true", help="add each predicted tag's probability (json, tsv)")
    tag.add_argument("--top-k", type=int, default=0, metavar="K", help="add each word's K most probable tags per column (json, tsv)")
    tag.add_argument("--threads", type=int, help="torch CPU threads (default: every core; with --workers, per worker: the cores shared out)")
    tag.add_argument("--workers", type=int, default=1, metavar="N",
                     help="tag in N processes (output in input order, memory flat); this one reads and segments")
    tag.add_argument("--device", default="auto", help=DEVICE_HELP + "; with --workers N, one worker per GPU")
    tag.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                     help="arithmetic of the network: auto is bfloat16 where the device computes it natively "
                          "(a GPU with bfloat16, a CPU with AVX512-BF16/AMX; same accuracy, 2-3x faster), else float32")
    tag.add_argument("--tokenizer", choices=["auto", "learned", "rules"], default="auto",
                     help="raw text: the model's learned segmenter, or the rule tokenizer (default: learned if the model has one)")
    tag.add_argument("--language", help="ISO 639 code of the text: tokenizer rules for raw text, e.g. en (default: the model's language)")
    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = argv[0] if argv and argv[0] in ("train", "eval", "tag", "package", "models") else None
    prefix = f"tagger {command}" if command else "tagger"  # every error: `tagger <command>: error: ...`
    try:
        if command == "train":
            return _train(argv[1:], debug)
        if "--version" in argv and command is None:
            return _version(verbose="-v" in argv or "--verbose" in argv)
        args = build_parser().parse_args(argv)
        return {"eval": _eval, "tag": _tag, "package": package_command, "models": models_command}[args.command](args)
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
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
