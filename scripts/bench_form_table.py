"""What the model file's stored CLE table (`form_table.cle`) buys at load, against what it costs in size. JSON.

For each model: the file's bytes with and without the table, raw and deflated (a wheel and git
both store files deflated), and, each in a fresh process with one thread (the way a user's
`tagger tag` starts), the seconds to `Tagger.load` the file and then to tag a fixed text (the
first `--words` gold words of the model's own test file, the text any user's first call pays
for). Three ways of having the table:

- stored: the file as it is, the table read from it;
- recomputed: the file without it, the table computed for the whole vocabulary at load;
- lazy: the file without it, each vocabulary form's row computed the first time the form is seen.

The variants take turns, `--repeats` times; each reports its medians.

    python scripts/bench_form_table.py [--model en_ewt PATH ...] [--repeats 5] [--words 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
path, variant, sentences = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
started = time.perf_counter()
import torch
torch.set_num_threads(1)
from tagger import Tagger
from tagger.model.model_file import FORM_TABLE_MAX_ROWS, load_model
imported = time.perf_counter()
bundle = load_model(path)
if variant == "recomputed":
    bundle.form_table = bundle.network.vocabulary_form_table(bundle.vocabs, FORM_TABLE_MAX_ROWS)
tagger = Tagger(bundle, device="cpu")
loaded = time.perf_counter()
tagger.tag(sentences)
tagged = time.perf_counter()
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported, "first_tag_s": tagged - loaded,
                  "cle_computed": tagger.cache.misses}))
"""


def without_table(model: Path, target: Path) -> Path:
    """A copy of the model file with every tensor and metadata key except the stored table."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from tagger.model.model_file import FORM_TABLE

    with safe_open(str(model), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(model))
    tensors.pop(FORM_TABLE)
    save_file(tensors, str(target), metadata=metadata)
    return target


def deflated(path: Path) -> int:
    return len(zlib.compress(path.read_bytes(), 6))


def test_words(model: Path, words: int) -> list[list[str]]:
    """The first `words` gold words of the model's own test file, as token lists."""
    from tagger.data.readers import read_data
    from tagger.inference.packages import header_metadata

    data = json.loads(header_metadata(model)["provenance"]).get("config", {}).get("data", {})
    test = REPO / data["test"] if data.get("test") else REPO.parent / "shared/data/ud/en_ewt/test.conllu"
    chosen, count = [], 0
    for sentence in read_data(test, data.get("format", "conllu"), data.get("fields")):
        chosen.append(list(sentence.forms))
        count += len(sentence.forms)
        if count >= words:
            break
    return chosen


def measure(model: Path, repeats: int, words: int) -> dict:
    from tagger.inference.shipped import resolve_model

    model = resolve_model(str(model))
    sentences = json.dumps(test_words(model, words))
    with tempfile.TemporaryDirectory() as folder:
        stripped = without_table(model, Path(folder) / "stripped.safetensors")
        files = {"stored": model, "recomputed": stripped, "lazy": stripped}
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        runs: dict[str, list[dict]] = {variant: [] for variant in files}
        for _ in range(repeats + 1):  # the first round warms the disk cache, untimed
            for variant, path in files.items():
                out = subprocess.run([sys.executable, "-c", CHILD, str(path), variant], input=sentences,
                                     capture_output=True, text=True, env=env, check=True).stdout
                runs[variant].append(json.loads(out.splitlines()[-1]))
        sizes = {"with_table": (model.stat().st_size, deflated(model)), "without_table": (stripped.stat().st_size, deflated(stripped))}
    timed = {variant: {key: round(statistics.median(run[key] for run in found[1:]), 3) for key in found[0]}
             for variant, found in runs.items()}
    return {"model": str(model.relative_to(REPO) if model.is_relative_to(REPO) else model), "words": words,
            "bytes": {kind: {"raw": raw, "deflated": packed} for kind, (raw, packed) in sizes.items()},
            "table_share": round(1 - sizes["without_table"][0] / sizes["with_table"][0], 3), "seconds": timed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["en_ewt"], help="model files or names")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--words", type=int, default=2000, help="gold words of the model's test file tagged after load")
    args = parser.parse_args()
    results = [measure(Path(model), args.repeats, args.words) for model in args.model]
    print(json.dumps({"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
