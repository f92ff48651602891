"""`tagger package` and `tagger models`: their arguments and what they print."""

from __future__ import annotations

import argparse
import sys


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register both subcommands on the `tagger` parser."""
    package = commands.add_parser("package", help="build a wheel (tagger-model-NAME) of one model, for pip install")
    package.add_argument("model", help="model file (or the name of an installed or shipped model)")
    package.add_argument("output_dir", help="folder the wheel is written to (a --find-links folder, say)")
    package.add_argument("--name", help="model name, lower case (default: the model's data name, e.g. fr_sequoia)")
    package.add_argument("--version", dest="package_version", help="package version (default: 0.1.0)")
    package.add_argument("--card", help="Markdown card to ship (default: MODEL with .md, else one written from the model's metadata)")
    package.add_argument("--license", dest="licence", help="licence of the training data (default: the one the model's card records)")
    package.add_argument("--license-file", dest="licence_file", help="the training data's licence text, shipped in the wheel")
    package.add_argument("--force", action="store_true", help="overwrite the wheel if it exists")
    commands.add_parser("models", help="list the installed and shipped models: name, language, columns, version, test scores, where")


def package_command(args: argparse.Namespace) -> int:
    from tagger.packaging.package import UNKNOWN_LICENCE, package_model

    built = package_model(args.model, args.output_dir, args.name, args.package_version, args.card,
                          args.licence, args.licence_file, args.force)
    print(built.wheel)
    if built.non_commercial:
        print(f"note: the training data of {built.name} is licensed {built.licence}: non-commercial use only; "
              "the wheel's metadata says so", file=sys.stderr)
    elif built.licence == UNKNOWN_LICENCE:
        print(f"note: {built.name} records no training-data licence; give it with --license", file=sys.stderr)
    print(f"install: pip install --no-deps {built.wheel}   "
          f"or: pip install --no-index --find-links {built.wheel.parent} tagger-model-{built.name}", file=sys.stderr)
    return 0


def models_command(args: argparse.Namespace) -> int:
    from tagger.inference.packages import all_models

    rows = [(info.name, info.language or "-", _columns(info.columns, info.segmenter), info.version,
             "  ".join(f"{key} {value:.2f}" for key, value in info.scores.items()) or "-", f"{info.kind}: {info.path}")
            for info in all_models()]
    if not any(row[-1].startswith("installed") for row in rows):
        print("no model packages installed (tagger package MODEL DIR builds one; pip install it)", file=sys.stderr)
    header = ("name", "language", "columns", "version", "test (gold tokens)", "where")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return 0


def _columns(columns: list[str], segmenter: bool) -> str:
    """What a model predicts, in words: tags, lemmas, entities, and whether it segments raw text."""
    kinds = [column for column in columns if column in ("upos", "xpos", "feats")]
    described = [f"tags ({','.join(kinds)})"] if kinds else []
    described += ["lemmas"] * ("lemma" in columns) + [f"entities ({column})" for column in columns if column.startswith("misc:")]
    return ", ".join(described + ["segmenter"] * segmenter) or "-"
