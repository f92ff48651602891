"""`tagger package`, `tagger models` and `tagger download`: their arguments and what they print.

Tables and results go to stdout, notes to stderr after them (stdout flushed first), so
`tagger models 2>&1 | cat` shows the table whole and the note on its own line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

FROM_HELP = ("a folder of published models (a copy of the repository's models/), or its URL, or a package index "
             "(default: $TAGGER_MODELS_URL, else the models/ folder of the clone tagger runs from)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the subcommands on the `tagger` parser."""
    package = commands.add_parser("package", help="build a wheel (tagger-model-NAME) of one model, for pip install")
    package.add_argument("model", help="model file (or the name of an installed or shipped model)")
    package.add_argument("output_dir", help="folder the wheel is written to (a --find-links folder, say)")
    package.add_argument("--name", help="model name, lower case (default: the model's data name, e.g. fr_sequoia)")
    package.add_argument("--version", dest="package_version", help="package version (default: 0.1.0)")
    package.add_argument("--card", help="Markdown card to ship (default: MODEL with .md, else one written from the model's metadata)")
    package.add_argument("--license", dest="licence",
                         help="licence of the training data (default: the model's card, or its data folder's PROVENANCE.md)")
    package.add_argument("--license-file", dest="licence_file",
                         help="the training data's licence text, shipped in the wheel (default: the data folder's LICENSE.txt)")
    package.add_argument("--force", action="store_true", help="overwrite the wheel if it exists")
    models = commands.add_parser("models", help="list the installed and shipped models: name, language, columns, version, "
                                                "test scores, where (--available: those `tagger download` installs)")
    models.add_argument("--available", action="store_true", help="list the published models that can be downloaded instead")
    models.add_argument("--from", dest="source", metavar="DIR_OR_URL", help=FROM_HELP)
    download = commands.add_parser("download", help="install a published model through pip, by name or language (e.g. fr)")
    download.add_argument("model", metavar="NAME|LANGUAGE", help="a model name (fr_sequoia) or a language code with one model (fr)")
    download.add_argument("--from", dest="source", metavar="DIR_OR_URL", help=FROM_HELP)
    download.add_argument("--target", metavar="DIR", help="install into DIR (pip --target) instead of this Python's environment")


def package_command(args: argparse.Namespace) -> int:
    from tagger.packaging.package import UNKNOWN_LICENCE, package_model

    built = package_model(args.model, args.output_dir, args.name, args.package_version, args.card,
                          args.licence, args.licence_file, args.force)
    print(built.wheel, flush=True)
    if built.non_commercial:
        print(f"note: the training data of {built.name} is licensed {built.licence}: non-commercial use only; "
              "the wheel's metadata says so", file=sys.stderr)
    elif built.licence == UNKNOWN_LICENCE:
        print(f"note: {built.name} records no training-data licence; give it with --license", file=sys.stderr)
    print(f"install: pip install --no-deps {built.wheel}   "
          f"or: pip install --no-index --find-links {built.wheel.parent} tagger-model-{built.name}", file=sys.stderr)
    return 0


def models_command(args: argparse.Namespace) -> int:
    if args.available:
        return _available(args.source)
    if args.source:
        from tagger.errors import TaggerError

        raise TaggerError("--from goes with --available (the models a folder or URL publishes)")
    from tagger.inference.packages import all_models

    rows = [(info.name, info.language or "-", describe_columns(info.columns, info.segmenter, info.segmenter_dev), info.version,
             figures(info.scores), f"{info.kind}: {info.path}")
            for info in all_models()]
    _print_table(("name", "language", "columns", "version", "test (gold tokens)", "where"), rows)
    if not any(row[-1].startswith("installed") for row in rows):
        print("note: no model packages installed; `tagger download NAME|LANGUAGE` installs a published one "
              "(`tagger models --available` lists them)", file=sys.stderr)
    return 0


def _available(source: str | None) -> int:
    from tagger.errors import TaggerError
    from tagger.inference.packages import SEGMENTER_DEV, installed_models, segmenter_dev
    from tagger.packaging.download import megabytes, models_source
    from tagger.packaging.index import INDEX_FILE, read_index

    source = models_source(source)
    index = read_index(source)
    if index is None:
        raise TaggerError(f"{source} serves no {INDEX_FILE} (a package index): it lists no languages, sizes or figures; "
                          "`tagger download NAME --from` it installs a model by name")
    installed = installed_models()
    rows = [(entry["name"], entry.get("language") or "-",
             describe_columns(entry["columns"], entry.get("segmenter", False), segmenter_dev({SEGMENTER_DEV: entry.get(SEGMENTER_DEV)})),
             entry["version"], megabytes(entry["size"]),
             entry["data"]["licence"] + (" (non-commercial)" if entry.get("non_commercial") else ""),
             figures(entry.get("test", {}).get("gold", {})),
             f"installed {installed[entry['name']].version}" if entry["name"] in installed else "-")
            for entry in index.models]
    _print_table(("name", "language", "columns", "version", "size", "data licence", "test (gold tokens)", "installed"), rows)
    print(f"from {source}; `tagger download NAME|LANGUAGE` installs one", file=sys.stderr)
    return 0


def download_command(args: argparse.Namespace) -> int:
    from tagger.packaging.card import is_non_commercial
    from tagger.packaging.download import download, models_source

    installed = download(args.model, models_source(args.source), args.target)
    meta = installed.meta
    where = f" into {installed.target}" if installed.target else ""
    print(f"installed tagger-model-{meta['name']} {meta['version']}{where} from {installed.source}: {meta['name']}, "
          f"language {meta.get('language') or 'not recorded'}: {describe_columns(meta.get('columns', []), meta.get('segmenter', False))}")
    licence, title = meta.get("licence", "unknown"), (meta.get("training_data") or {}).get("title") or meta.get("data") or "not recorded"
    print(f"training data: {title}, licensed {licence}"
          + (": NON-COMMERCIAL, this model may not be used for commercial purposes" if is_non_commercial(licence) else ""))
    path_note = f" (with {installed.target} on PYTHONPATH)" if installed.target else ""
    print(f"use it{path_note}: tagger tag --model {meta['name']} TEXT, or Tagger.load(\"{meta['name']}\")")
    return 0


def figures(scores: dict[str, float]) -> str:
    from tagger.inference.packages import LISTED_SCORES

    return "  ".join(f"{key} {scores[key]:.2f}" for key in LISTED_SCORES if key in scores) or "-"


def describe_columns(columns: Sequence[str], segmenter: bool, segmenter_dev: dict[str, float] | None = None) -> str:
    """What a model predicts, in words: tags, lemmas, entities, and whether it segments raw text (with its dev figures)."""
    kinds = [column for column in columns if column in ("upos", "xpos", "feats")]
    described = [f"tags ({','.join(kinds)})"] if kinds else []
    described += ["lemmas"] * ("lemma" in columns) + [f"entities ({column})" for column in columns if column.startswith("misc:")]
    if segmenter:
        dev = " ".join(f"{key} {value:.1f}" for key, value in (segmenter_dev or {}).items())
        described.append(f"segmenter (dev {dev})" if dev else "segmenter")
    return ", ".join(described) or "-"


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell (the last one not), then stdout flushed: a note after it stays below it."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    sys.stdout.flush()
