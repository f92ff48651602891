"""Model cards: the figures, command, data licence and versions behind a model, as Markdown and as metadata.

A card is a dict stored under `provenance["card"]` in the model file, so the figures travel with
the weights (and `tagger models` lists them); `render_card` writes the same dict as Markdown.
"""

from __future__ import annotations

import json
import platform
import re
from importlib import metadata as importlib_metadata
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tagger.atomic_file import atomic_write

VERSIONED = ("tagger", "torch", "pytorch-lightning", "safetensors", "conllu", "seqeval")


def data_provenance(directory: Path) -> dict[str, str]:
    """Title, source, release and licence of a data folder, read from its PROVENANCE.md."""
    text = (directory / "PROVENANCE.md").read_text(encoding="utf-8") if (directory / "PROVENANCE.md").is_file() else ""
    title = re.search(r"^# (.+?)(?:: provenance)?$", text, re.MULTILINE)

    def field(key: str) -> str:
        match = re.search(rf"^- {key}: (.+?)(?:\n(?!- |\n)\s+(.+?))*$", text, re.MULTILINE)
        return re.sub(r"\s+", " ", match.group(0)[len(f"- {key}: "):]).strip() if match else ""

    licence = re.split(r" \(|, ", field("Licence"), maxsplit=1)[0].strip() or "unknown"
    return {"title": title.group(1).strip() if title else directory.name, "source": field("Source"),
            "release": re.split(r"; |\. ", field("Release") or field("Commit"))[0], "licence": licence}


def is_non_commercial(licence: str) -> bool:
    return bool(re.search(r"\bNC\b|non-?commercial", licence, re.IGNORECASE))


def package_versions() -> dict[str, str]:
    """The versions a model was built with: what reproducing its figures needs."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def store_card(model: Path, card: dict) -> None:
    """Put the card into the model file's provenance; the tensors are copied unchanged."""
    with safe_open(str(model), framework="pt") as handle:
        header = dict(handle.metadata() or {})
    provenance = json.loads(header.get("provenance", "{}"))
    header["provenance"] = json.dumps({**provenance, "card": card}, ensure_ascii=False)
    tensors = load_file(str(model))
    with atomic_write(model) as temporary:
        save_file(tensors, str(temporary), metadata=header)


def score_table(scores: dict[str, dict[str, float]]) -> str:
    """Rows per split, columns per metric (those of the first split), as Markdown."""
    metrics = list(next(iter(scores.values())))
    lines = ["| split | " + " | ".join(metrics) + " |", "|---|" + "--:|" * len(metrics)]
    for split, values in scores.items():
        lines.append(f"| {split} | " + " | ".join(f"{values[m]:.2f}" if m in values else "" for m in metrics) + " |")
    return "\n".join(lines)


def render_card(card: dict) -> str:
    """The card as Markdown: what the model does, its figures, its data and licence, how it was built."""
    name, data = card["name"], card.get("data", {})
    columns = ", ".join(card.get("columns", []))
    segmenter = "; raw text segmented by a learned segmenter" if card.get("segmenter") else ""
    licence = data.get("licence", "unknown")
    notice = (f"\n\n**Non-commercial:** the training data is licensed {licence}; "
              "this model may not be usable for commercial purposes." if is_non_commercial(licence) else "")
    parts = [f"# {name}: {card.get('language') or 'unknown language'} model ({columns}){segmenter}",
             (f"Trained on **{data['title']}** ({data.get('release') or 'release unknown'}; "
              f"{data.get('source') or 'source unknown'}). " if data.get("title") else "")
             + f"Training data licence: **{licence}**.{notice}",
             f"```sh\npip install --no-index --find-links WHEELS_DIR tagger-model-{name}   # beside an installed tagger\n"
             f"tagger tag --model {name} \"Some text.\"\n```",
             f"```python\nfrom tagger import Tagger\n\ndoc = Tagger.load(\"{name}\").tag(\"Some text.\")\n```"]
    scores = card.get("scores", {})
    precision = f", {card['precision']}" if card.get("precision") else ""  # tagging `--precision` gives these figures
    for kind, title in (("gold", f"Gold tokens (`tagger eval MODEL FILE`{precision})"),
                        ("raw", f"Raw text, end to end, CoNLL 2018 F1 (`tagger eval MODEL FILE --raw`{precision})")):
        table = {split: values[kind] for split, values in scores.items() if values.get(kind)}
        if table:
            parts += [f"## Scores: {title}", score_table(table)]
    minutes = card.get("training_minutes")
    parts += ["## How it was built", f"```sh\n{card.get('command', '(not recorded)')}\n```",
              f"Training time: {minutes:.1f} minutes (wall clock, the training commands together)." if minutes is not None else "",
              "Built with " + ", ".join(f"{key} {value}" for key, value in card["versions"].items()) + "."
              if card.get("versions") else ""]
    return "\n\n".join(part for part in parts if part) + "\n"
