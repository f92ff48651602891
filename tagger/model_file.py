"""The portable model file: one safetensors file whose header metadata holds JSON.

Weights are safetensors; the network config, vocabularies and provenance are JSON strings in
the safetensors metadata. Nothing is unpickled, so a downloaded model cannot run code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tagger.data.vocab import Vocabularies
from tagger.errors import ModelFileError
from tagger.model.network import TaggerNetwork

FORMAT_NAME = "tagger-model"
FORMAT_VERSION = 1


@dataclass
class ModelBundle:
    """Everything inference needs: the network (eval mode), its vocabularies and its record."""

    network: TaggerNetwork
    vocabs: Vocabularies
    columns: list[str]
    provenance: dict


def build_network(config: dict, vocabs: Vocabularies) -> TaggerNetwork:
    return TaggerNetwork(config, len(vocabs.words), len(vocabs.chars), {c: len(v) for c, v in vocabs.tags.items()})


def save_model(
    path: str | Path,
    network: TaggerNetwork,
    vocabs: Vocabularies,
    provenance: dict | None = None,
    weights_dtype: torch.dtype | None = None,
) -> Path:
    """Write atomically (temporary file, then rename) so a crash never leaves half a model.

    `weights_dtype=torch.float16` halves the file (shipped models); loading copies the weights
    into the float32 network, so inference is unchanged apart from the rounding.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(network.config),
        "columns": json.dumps(list(vocabs.tags)),
        "vocabs": json.dumps(vocabs.to_dict(), ensure_ascii=False),
        "provenance": json.dumps(provenance or {}, ensure_ascii=False),
    }
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    if weights_dtype is not None:
        tensors = {name: t.to(weights_dtype) if t.is_floating_point() else t for name, t in tensors.items()}
    temporary = path.with_name(path.name + ".tmp")
    save_file(tensors, str(temporary), metadata=metadata)
    os.replace(temporary, path)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

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
        config = json.loads(metadata["config"])
        vocabs = Vocabularies.from_dict(json.loads(metadata["vocabs"]))
        provenance = json.loads(metadata.get("provenance", "{}"))
        network = build_network(config, vocabs)
        network.load_state_dict(load_file(str(path)))
    except (KeyError, ValueError, TypeError, RuntimeError, SafetensorError) as error:
        raise ModelFileError(f"{path}: corrupt model file ({type(error).__name__}: {error})") from None
    network.eval()
    return ModelBundle(network, vocabs, list(vocabs.tags), provenance)
