"""The portable model file: one safetensors file whose header metadata holds JSON.

Weights are safetensors; the network config, vocabularies, encoding constants and provenance
are JSON strings in the safetensors metadata. A learned segmenter (tokens, sentences,
multiword tokens) travels in the same file: its tensors under `segmenter.`, its vocabulary and
rules under the `segmenter` metadata key. The character-level embeddings of the most frequent
training words may be stored too (`form_table.cle`, a training run's file has them); without
them the inference cache fills each word's row the first time the word is seen. Published files
leave the table out: it is more than a quarter of the file, and filling rows as words come costs
tagging 2,000 words 0.07 s more, where computing it all at load would cost 1.0 s
(`scripts/bench_form_table.py`). Nothing is unpickled, so a downloaded model cannot run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from tagger.atomic_file import atomic_write
from tagger.data.vocab import Vocabularies
from tagger.errors import ModelFileError
from tagger.model.encoding import DEFAULT_MAX_WORD_CHARS
from tagger.model.network import TaggerNetwork, build_network
from tagger.model.segmenter import Segmenter

FORMAT_NAME = "tagger-model"
FORMAT_VERSION = 1
# Config keys added after files of this format were first written, with the values those files were trained with.
LEGACY_CONFIG = {"max_word_chars": DEFAULT_MAX_WORD_CHARS}
SEGMENTER_PREFIX = "segmenter."
FORM_TABLE = "form_table.cle"
FORM_TABLE_MAX_ROWS = 50_000  # vocabularies extended from a word-vector file can be far larger; the tail fills lazily


@dataclass
class ModelBundle:
    """Everything inference needs: the network (eval mode), its vocabularies and its record."""

    network: TaggerNetwork
    vocabs: Vocabularies
    columns: list[str]
    provenance: dict
    segmenter: Segmenter | None = None  # learned from the training data's raw text, if it had any
    form_table: torch.Tensor | None = None  # CLEs of the first word-vocabulary rows (files from before it: None)

    @property
    def max_word_chars(self) -> int:
        return self.network.config["max_word_chars"]


def save_model(
    path: str | Path,
    network: TaggerNetwork,
    vocabs: Vocabularies,
    provenance: dict | None = None,
    weights_dtype: torch.dtype | None = None,
    segmenter: Segmenter | None = None,
    form_table: bool = True,
) -> Path:
    """Write the model file whole or not at all.

    `weights_dtype=torch.float16` halves the file (shipped models); loading copies the weights
    into the float32 network, so inference is unchanged apart from the rounding. `form_table=False`
    leaves out the vocabulary's stored CLEs (published files: a quarter smaller, rows filled as words come).
    """
    path = Path(path)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(network.config),
        "columns": json.dumps(list(vocabs.tags)),
        "vocabs": json.dumps(vocabs.to_dict(), ensure_ascii=False),
        "provenance": json.dumps(provenance or {}, ensure_ascii=False),
    }
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    if form_table:
        tensors[FORM_TABLE] = network.vocabulary_form_table(vocabs, FORM_TABLE_MAX_ROWS).cpu().contiguous()
    if segmenter is not None:
        metadata["segmenter"] = json.dumps(segmenter.metadata(), ensure_ascii=False)
        tensors.update({SEGMENTER_PREFIX + name: t.detach().cpu().contiguous() for name, t in segmenter.state_dict().items()})
    if weights_dtype is not None:
        tensors = {name: t.to(weights_dtype) if t.is_floating_point() else t for name, t in tensors.items()}
    with atomic_write(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return path


def stores_form_table(path: Path) -> bool:
    """Whether the file holds the vocabulary's stored CLEs (read from its header, no tensor loaded)."""
    with safe_open(str(path), framework="pt") as handle:
        return FORM_TABLE in handle.keys()


def read_metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        if kind := _pickle_kind(path):
            raise ModelFileError(f"{path}: {kind}, not a tagger model file; tagger never unpickles (it could run code)") from None
        raise ModelFileError(f"{path}: not a tagger model file, or a truncated or corrupt one ({error})") from None
    if metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: a safetensors file, but not a tagger model (no '{FORMAT_NAME}' marker)")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ModelFileError(f"{path}: unreadable format version {metadata.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version} is newer than this tagger reads ({FORMAT_VERSION}); upgrade tagger"
        )
    return metadata


def _pickle_kind(path: Path) -> str | None:
    """Name the pickle-based formats people mistake for a model file (PyTorch checkpoints are zips of pickles)."""
    with path.open("rb") as stream:
        start = stream.read(4)
    if start == b"PK\x03\x04":
        return "a zip archive (such as a PyTorch .pt or Lightning .ckpt file, which carry pickles)"
    if start[:1] == b"\x80":
        return "a Python pickle"
    return None


def load_model(path: str | Path) -> ModelBundle:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    metadata = read_metadata(path)
    try:
        config = {**LEGACY_CONFIG, **json.loads(metadata["config"])}
        vocabs = Vocabularies.from_dict(json.loads(metadata["vocabs"]))
        provenance = json.loads(metadata.get("provenance", "{}"))
        network = build_network(config, vocabs)
        tensors = load_file(str(path))
        form_table = tensors.pop(FORM_TABLE, None)
        network.load_state_dict({name: t for name, t in tensors.items() if not name.startswith(SEGMENTER_PREFIX)})
        segmenter = None
        if "segmenter" in metadata:
            own = {name[len(SEGMENTER_PREFIX):]: t.float() if t.is_floating_point() else t
                   for name, t in tensors.items() if name.startswith(SEGMENTER_PREFIX)}
            segmenter = Segmenter.from_metadata(json.loads(metadata["segmenter"]), own)
    except (KeyError, ValueError, TypeError, RuntimeError, SafetensorError) as error:
        raise ModelFileError(f"{path}: corrupt model file ({type(error).__name__}: {error})") from None
    network.eval()
    return ModelBundle(network, vocabs, list(vocabs.tags), provenance, segmenter,
                       None if form_table is None else form_table.float())
