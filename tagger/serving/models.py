"""The models a server holds, and the names a request may call them by.

A model is served under the name it was loaded by (`--model en_ewt`, or a model file's stem), and
also, as UDPipe's service does, by its language: the ISO 639-1 and 639-3 codes (`en`, `eng`), the
English name (`english`) and that name with the treebank (`english-ewt`). A longer UDPipe model
name finds its model through its first dash-separated parts (`english-ewt-ud-2.12-230717` finds
`english-ewt`), so a UDPipe client's `--model` keeps working. Where two models share an alias,
the one given first on the command line has it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pycountry

from tagger import __version__
from tagger.inference.tagger import Tagger


class UnknownModel(LookupError):
    """A request named a model this server does not hold."""

    def __init__(self, name: str, served: list[str]) -> None:
        super().__init__(f"unknown model {name!r}: this server has {', '.join(served)} (GET /models lists them)")


def model_name(argument: str) -> str:
    """The name a `--model` argument is served under: a file's stem, else the argument itself."""
    path = Path(argument)
    return path.name.removesuffix(".safetensors") if path.is_file() else argument


def aliases(name: str, language: str | None) -> list[str]:
    """`name`, then the names of its language (see the module's docstring)."""
    names = [name]
    record = None
    if language:
        record = pycountry.languages.get(alpha_2=language) or pycountry.languages.get(alpha_3=language)
    if record is not None:
        english = re.sub(r"\s*\(.*\)", "", record.name).lower().replace(" ", "_")  # "Ancient Greek (to 1453)"
        treebank = name.partition("_")[2] if name.startswith(f"{language}_") else ""
        names += [english + f"-{treebank}" if treebank else "", getattr(record, "alpha_2", ""), record.alpha_3, english]
    return list(dict.fromkeys(alias for alias in names if alias))


class ServedModels:
    """Loaded taggers by name; `default` answers requests that name none."""

    def __init__(self, taggers: dict[str, Tagger]) -> None:
        self.taggers = taggers
        self.default = next(iter(taggers))
        self.aliases = {name: aliases(name, tagger.language) for name, tagger in taggers.items()}
        self._by_alias: dict[str, str] = {}
        for name in taggers:  # served names first: no alias of one model hides another's name
            self._by_alias[name] = name
        for name, names in self.aliases.items():
            for alias in names:
                self._by_alias.setdefault(alias, name)

    def resolve(self, requested: str | None) -> str:
        """The served name for `requested` (None: the default), by its longest dash-separated prefix that is a name."""
        if requested is None:
            return self.default
        parts = requested.split("-")
        for end in range(len(parts), 0, -1):
            if (name := self._by_alias.get("-".join(parts[:end]))) is not None:
                return name
        raise UnknownModel(requested, list(self.taggers))

    def describe(self) -> dict:
        """What `GET /models` answers: each model's language, columns, tokenizer, arithmetic, device and aliases."""
        return {
            "models": {
                name: {
                    "language": tagger.language,
                    "columns": list(tagger.columns),
                    "tokenizer": tagger.tokenizer_kind,
                    "precision": tagger.precision.name,
                    "device": str(tagger.device),
                    "aliases": self.aliases[name][1:],
                }
                for name, tagger in self.taggers.items()
            },
            "default_model": self.default,
            "tagger_version": __version__,
        }
