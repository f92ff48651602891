"""`tagger tag`: which arguments are files and which are text, where the output goes, and the loop between.

What an argument is, one rule a user can predict (also in `tagger tag --help` and the README):
arguments that all name existing files are files. Arguments that all name existing paths or look
like paths (a `/`, or an extension like `.txt`), at least one of them existing, are meant as files:
a directory or a missing one among them is an error (`tagger tag some_dir`, a typo in
`tagger tag a.txt b.txt`). Anything else is the text, its words joined by spaces: `Hello world .`,
`What is in notes.txt`; a text made only of path-like words (`example.com`, `node.js`) gets a note
on stderr that no such file exists. `--text` or stdin take any text without a note.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ContextManager, TextIO

from tagger.atomic_file import atomic_write
from tagger.errors import TaggerError

if TYPE_CHECKING:  # imported where used: errors before any work come without torch's start-up
    from tagger.inference.documents import TaggedSentence
    from tagger.inference.tagger import Tagger

# one letter then up to five letters or digits after a dot, not at the start: notes.txt, input.TXT, a.conllu
_EXTENSION = re.compile(r"[^./\\]\.[A-Za-z][A-Za-z0-9]{0,5}$")
OUTPUT_EXTENSIONS = {"conllu": ".conllu", "tsv": ".tsv", "json": ".jsonl"}
DEFAULT_MODEL, DEFAULT_LANGUAGE = "en_ewt", "en"  # the shipped model, and its language


@dataclass(frozen=True)
class Input:
    """One input: a file, stdin or the arguments' text; `open` gives its bytes, `size` them counted if known."""

    name: str
    open: Callable[[], ContextManager[BinaryIO]]
    size: int | None = None
    is_file: bool = False


def looks_like_path(word: str) -> bool:
    """One word with a path separator or a file extension (notes.txt, data/in, input.TXT), not text."""
    if any(char.isspace() for char in word):
        return False
    return "/" in word or os.sep in word or _EXTENSION.search(word) is not None


def _text_input(text: str, name: str) -> Input:
    data = text.encode("utf-8")
    return Input(name, lambda: contextlib.nullcontext(io.BytesIO(data)), len(data))


def tag_inputs(words: list[str], text: str | None = None) -> list[Input]:
    """The inputs the arguments name, by the rule of this module's docstring (stdin for none or "-")."""
    if text is not None:
        if words:
            raise TaggerError("--text is the whole input: give no files or further text with it")
        return [_text_input(text, "<text>")]
    if not words or words == ["-"]:
        return [Input("<stdin>", lambda: contextlib.nullcontext(sys.stdin.buffer))]
    paths = [Path(word) for word in words]
    if all(path.is_file() for path in paths):
        return [Input(str(path), lambda path=path: path.open("rb"), path.stat().st_size, True) for path in paths]
    path_like = [path.exists() or looks_like_path(word) for word, path in zip(words, paths)]
    if all(path_like) and any(path.exists() for path in paths):  # file names, one of them wrong
        for path in paths:
            if path.is_dir():
                raise TaggerError(f"{path}: a directory, not a file (name the files in it, e.g. {path}/*.txt; "
                                  "--output-dir DIR writes one output per file)")
        missing = next(word for word, path in zip(words, paths) if not path.exists())
        raise TaggerError(f"{missing}: no such file (the other arguments are files; to tag the words as text "
                          "use --text or stdin)")
    text = " ".join(words)
    if all(path_like):
        print(f"tagger tag: no file named {words[0]}, so {'it is' if len(words) == 1 else 'the arguments are'} "
              f"tagged as text (--text {shlex.quote(text)} says so without this note)", file=sys.stderr)
    return [_text_input(text, "<text>")]


def check_output_file(path: str | None, force: bool) -> None:
    """Refuse an output that is a directory, or exists without --force: before any work is done."""
    if path is None:
        return
    output = Path(path)
    if output.is_dir():
        raise TaggerError(f"--output {output} is a directory; give a file name in it")
    if output.exists() and not force:
        raise TaggerError(f"--output {output} exists; pass --force to overwrite it")


def output_paths(inputs: list[Input], directory: str, output_format: str, force: bool) -> list[Path]:
    """`--output-dir DIR`: DIR/<input's name><format's extension> per input file, each checked before any work."""
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise TaggerError(f"--output-dir {folder} is a file, not a directory")
    if not all(source.is_file for source in inputs):
        raise TaggerError("--output-dir writes one output per input file: name files (for text or stdin use --output)")
    paths = [folder / (Path(source.name).stem + OUTPUT_EXTENSIONS[output_format]) for source in inputs]
    for source, path in zip(inputs, paths):
        if paths.count(path) > 1:
            raise TaggerError(f"--output-dir: two inputs would both be written to {path}; tag them into different directories")
        if path.resolve() == Path(source.name).resolve():
            raise TaggerError(f"--output-dir: {path} would overwrite its own input; choose another directory")
        check_output_file(str(path), force)
    return paths


@contextlib.contextmanager
def progress_bar(source: Input) -> Iterator[Callable[[bytes], bytes]]:
    """A progress bar on stderr by bytes read, when stderr is a terminal; nothing for logs, pipes, or a typing user."""
    if not sys.stderr.isatty() or (source.name == "<stdin>" and sys.stdin.isatty()):
        yield lambda line: line
        return
    from tqdm import tqdm

    with tqdm(total=source.size, desc=Path(source.name).name, unit="B", unit_scale=True, file=sys.stderr, leave=False) as bar:
        def advance(line: bytes) -> bytes:
            bar.update(len(line))
            return line

        yield advance


@contextlib.contextmanager
def open_output(path: str | Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears whole once tagging is complete (checked before: `check_output_file`)."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_write(path) as temporary, temporary.open("w", encoding="utf-8", newline="\n") as stream:
        yield stream


FORMATS_BY_EXTENSION = {".json": "json", ".jsonl": "json", ".tsv": "tsv", ".conllu": "conllu", ".conll": "conllu"}


def output_format(args: argparse.Namespace) -> str:
    """The output format: --output-format, else what --output's extension names, else JSON where probabilities
    or top-k tags are asked for (CoNLL-U has no place for them), else CoNLL-U."""
    if args.output_format:
        return args.output_format
    by_extension = FORMATS_BY_EXTENSION.get(Path(args.output).suffix.lower()) if args.output else None
    return by_extension or ("json" if args.probabilities or args.top_k else "conllu")


def _check_options(args: argparse.Namespace) -> None:
    from tagger.inference.languages import check_language

    if args.language is not None:
        check_language(args.language, option="--language ")
    if (args.probabilities or args.top_k) and args.output_format == "conllu":
        raise TaggerError(f"{'--probabilities' if args.probabilities else '--top-k'} needs --output-format json or tsv")
    if args.top_k < 0:
        raise TaggerError(f"--top-k {args.top_k}: give 0 (none) or more tags")
    if args.workers is not None and args.workers < 1:
        raise TaggerError(f"--workers {args.workers}: give 1 or more processes")
    if args.output and args.output_dir:
        raise TaggerError("--output and --output-dir: give one (a file for everything, or a directory for one file per input)")
    if args.address and args.engine != "ray":
        raise TaggerError("--address names a Ray cluster: give it with --engine ray")
    if args.engine == "ray" and not args.output_dir:
        raise TaggerError("--engine ray tags each file on its own: name files and give --output-dir DIR for their outputs")


def model_to_load(model: str | None, language: str | None) -> str:
    """--model as given; without it, the model of --language (a code names its one model: `fr` the French
    one, or one line on how to get it), else the shipped English model."""
    from tagger.inference.languages import check_language

    if model:
        return model
    if language and check_language(language) != DEFAULT_LANGUAGE:
        return language
    return DEFAULT_MODEL


def tagging_function(args: argparse.Namespace) -> tuple[Tagger, Callable[[Iterable[TaggedSentence]], Iterator[str]]]:
    """The loaded tagger (it reads and segments) and what tags sentences into formatted text: it, or workers."""
    from tagger.device import resolve_device
    from tagger.inference.documents import OUTPUT_FORMATS, TaggedSentence
    from tagger.inference.tagger import Tagger
    from tagger.prediction.precision import ieee_float32_in_this_process

    device = resolve_device(args.device, option="--device ")
    ieee_float32_in_this_process()  # float32 on a GPU computes what the CPU computes (workers do the same)
    load_options = {"path_or_name": model_to_load(args.model, args.language), "language": args.language,
                    "tokenizer": args.tokenizer, "device": device, "precision": args.precision}
    write = OUTPUT_FORMATS[args.output_format]
    if args.workers in (None, 1):
        tagger = Tagger.load(**load_options, threads=args.threads)

        def tag(sentences: Iterable[TaggedSentence]) -> Iterator[str]:
            return map(write, tagger.tag_stream(sentences, args.probabilities, top_k=args.top_k))
        return tagger, tag
    from tagger.inference.workers import default_threads, tag_in_workers, worker_devices

    devices = worker_devices(args.device, device, args.workers)
    tagger = Tagger.load(**load_options, threads=1)
    load_options["threads"] = args.threads or default_threads(args.workers)

    def tag_elsewhere(sentences: Iterable[TaggedSentence]) -> Iterator[str]:
        return tag_in_workers(sentences, load_options, args.workers, args.output_format, args.probabilities, args.top_k,
                              devices=devices)
    return tagger, tag_elsewhere


def output_text(args: argparse.Namespace, tagger: Tagger, tag: Callable[[Iterable[TaggedSentence]], Iterator[str]],
                sources: list[Input]) -> Iterator[str]:
    """One output's text: the TSV header where asked, then the sentences of `sources` tagged and formatted.
    The one home of what an output holds, whichever engine tags it (`tagger.cli_ray` runs it in Ray actors)."""
    from tagger.inference.documents import tsv_header

    if args.output_format == "tsv" and args.header:
        yield tsv_header(tagger.columns, args.probabilities, args.top_k)
    yield from tag(_read(sources, args.input_format, lambda: tagger.tokenizer))


def _read(sources: list[Input], input_format: str | None, tokenizer: Callable) -> Iterator[TaggedSentence]:
    """The sentences of `sources`, one after another; raw and tokenized input numbered across them all,
    each file's first sentence opening a `# newdoc` (CoNLL-U input keeps its own ids and comments)."""
    from tagger.inference.readers import detect_input_format, number_sentences, read_input

    ids = itertools.count(1)
    for source in sources:
        with source.open() as stream, progress_bar(source) as progress:
            kind, lines = detect_input_format((progress(line) for line in stream), input_format)
            sentences = read_input(lines, source.name, kind, tokenizer)
            if kind != "conllu":
                sentences = number_sentences(sentences, ids, Path(source.name).name if source.is_file else None)
            yield from sentences


def run_tag(args: argparse.Namespace) -> int:
    """`tagger tag`: every argument and output checked first, then the model loaded, then the streaming."""
    args.output_format = output_format(args)
    _check_options(args)
    inputs = tag_inputs(args.input, args.text)
    if args.output_dir:
        jobs = list(zip(output_paths(inputs, args.output_dir, args.output_format, args.force), [[i] for i in inputs]))
    else:
        check_output_file(args.output, args.force)
        jobs = [(args.output, inputs)]
    if args.engine == "ray":
        from tagger.cli_ray import tag_on_ray

        return tag_on_ray(args, jobs)
    if inputs[0].name == "<stdin>" and sys.stdin.isatty():  # as `cat` users expect: say what it waits for
        print("tagger tag: reading text from the terminal; end it with Ctrl-D (files or text as arguments: "
              "tagger tag --help)", file=sys.stderr)
    done: list[str | Path | None] = []
    try:
        tagger, tag = tagging_function(args)
        for path, sources in jobs:
            with open_output(path) as output:
                for text in output_text(args, tagger, tag, sources):
                    output.write(text)
            done.append(path)
    except BrokenPipeError:  # `tagger tag ... | head`: the reader has gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        raise KeyboardInterrupt(interrupted_message([path for path, _ in jobs], done)) from None
    return 0


def interrupted_message(outputs: list[str | Path | None], done: list[str | Path | None]) -> str:
    """What Ctrl-C left: an output file is written whole or not at all (`open_output`), so each is
    complete or untouched (an existing one kept as it was); stdout has what was tagged before it."""
    if outputs == [None]:
        return "interrupted; the sentences tagged before it are on stdout"
    if len(done) == len(outputs):
        return "interrupted once every output was written"
    unfinished = outputs[len(done)]
    left = (f"{unfinished} is as it was" if Path(unfinished).exists() else f"{unfinished} was not written") + \
        " (output files appear whole or not at all)"
    if len(outputs) == 1:
        return f"interrupted; {left}"
    last = f" (the last {done[-1]})" if done else ""
    return f"interrupted after {len(done)} of {len(outputs)} outputs{last}; {left}"
