"""Inference speed: words per second of Tagger.tag against the bare network on the same batches, as JSON.

Input is UD English-EWT test, as raw text (its paragraphs, `tagger.data.raw_text.raw_text`) and
pre-tokenised (its gold words). For 1 and 2 threads, with the form cache on and off, each run tags the whole
set once with a fresh cache (so the hit rate is what one pass earns), after a warm-up. A model with a
learned segmenter is also timed on the raw text with the rule tokenizer (`learned_over_rules`). The bare
forward pass runs the network as the predictor runs it (`Predictor.network`) alone over exactly
the batches Tagger.tag forms, with every tensor built beforehand and no cache: the limit that all
the Python around it is measured against.
The runs take turns (bare, cache on, cache off, and again) after an untimed round; each
reports its median.

With `--levers`, each speed lever runs alone against the float32 predictor with the plain LRU
form cache (the tagger before the levers), in turns as above, and is scored on the same file
(gold words): int8 dynamic quantization, bfloat16 (cast, and with the unpacked encoder), the
vocabulary's CLE table, other token budgets, and the default `Predictor` with the levers chosen.

    python scripts/bench_speed.py [--model en_ewt] [--file test.conllu] [--repeats 3] [--levers]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from tagger import Tagger
from tagger.data.conllu_io import read_conllu
from tagger.data.raw_text import raw_text
from tagger.evaluation.evaluate import evaluate_file
from tagger.inference.readers import read_raw
from tagger.model.encoding import collate, encode_sentences
from tagger.model.model_file import ModelBundle
from tagger.prediction.form_cache import FormEmbeddingCache
from tagger.prediction.predictor import Predictor

DEFAULT_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "test.conllu"


def prepared_batches(tagger: Tagger, sentences: list[list[str]]) -> list[tuple]:
    """The network inputs of every batch Tagger.predict would form for these sentences."""
    batches = []
    for batch in tagger.predictor.batches(sentences):  # it sorts by len(): lists of forms will do
        encoded = encode_sentences([sentences[i] for i in batch], tagger.vocabs, tagger.bundle.max_word_chars)
        inputs = collate(encoded.with_characters(tagger.vocabs.chars), range(len(batch)))
        batches.append(tuple(inputs[name] for name in ("words", "lengths", "form_index", "form_chars", "form_lengths")))
    return batches


@torch.inference_mode()
def bare_forward(tagger: Tagger, batches: list[tuple]) -> None:
    for batch in batches:
        tagger.predictor.network(*batch)


def tag_once(tagger: Tagger, data, input_format: str):
    """One pass with an empty cache: the hit rate is what a single pass over the data earns."""

    def run() -> None:
        tagger.predictor.clear_caches()
        tagger.tag(data, input_format=input_format)

    return run


def interleaved(runs: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each run after an untimed round; the runs take turns, so background load hits them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeats + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if round_:
                seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def plain(bundle: ModelBundle, **options) -> Predictor:
    """A float32 predictor with only the LRU form cache: the tagger before the speed levers."""
    predictor = Predictor(bundle, precision="float32", **options)
    predictor.cache = FormEmbeddingCache(predictor.cache.capacity)
    return predictor


def with_runner(predictor: Predictor, runner: nn.Module) -> Predictor:
    predictor.network = runner.eval()
    return predictor


def lever_predictors(bundle: ModelBundle) -> dict[str, Predictor]:
    """Each lever alone on top of `plain`, then the default predictor (every lever that paid)."""
    quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(bundle.network), {nn.LSTM, nn.GRU, nn.Linear})
    return {
        "float32": plain(bundle),
        "int8 dynamic (LSTM, GRU, Linear)": with_runner(plain(bundle), quantized),
        "bfloat16 cast, packed": with_runner(plain(bundle), copy.deepcopy(bundle.network).to(torch.bfloat16)),
        "bfloat16 unpacked encoder": with_runner(plain(bundle), Predictor(bundle, precision="bfloat16").network),
        "vocabulary CLE table": Predictor(bundle, precision="float32"),
        "batch_tokens 2048": plain(bundle, batch_tokens=2048),
        "batch_tokens 8192": plain(bundle, batch_tokens=8192),
        "default Predictor": Predictor(bundle),
    }


def levers(tagger: Tagger, inputs: dict, words: dict[str, int], file: Path, threads: int, repeats: int) -> list[dict]:
    """Words per second of each lever against float32 in the same run, and its scores on `file`."""
    predictors = lever_predictors(tagger.bundle)
    taggers = {name: Tagger(tagger.bundle) for name in predictors}
    for name, predictor in predictors.items():
        taggers[name].predictor = predictor
    results = []
    for input_name, (data, _) in inputs.items():
        seconds = interleaved({name: tag_once(t, data, input_name) for name, t in taggers.items()}, repeats)
        for name in predictors:
            results.append({"input": input_name, "threads": threads, "run": name,
                            "words_per_second": round(words[input_name] / seconds[name]),
                            "of_float32": round(seconds["float32"] / seconds[name], 3)})
    scores = {name: evaluate_file(predictor, file).scores for name, predictor in predictors.items()}
    for result in results:
        result["test_scores"] = {key: round(value, 2) for key, value in scores[result["run"]].items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="en_ewt", help="model file or shipped model name")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="CoNLL-U file with '# text' comments")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--levers", action="store_true", help="time and score each speed lever against float32")
    args = parser.parse_args()

    gold = read_conllu(args.file)
    text = raw_text(gold)
    tokenized = [s.forms for s in gold]
    tagger = Tagger.load(args.model)
    raw_sentences = [s.sentence.forms for s in read_raw(text.splitlines(keepends=True), tagger.tokenizer)]
    inputs = {"raw": (text, raw_sentences), "tokenized": (tokenized, tokenized)}
    words = {name: sum(map(len, sentences)) for name, (_, sentences) in inputs.items()}
    network_batches = {name: prepared_batches(tagger, sentences) for name, (_, sentences) in inputs.items()}

    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        if args.levers:
            results += levers(tagger, inputs, words, args.file, threads, args.repeats)
            continue
        for name, (data, _) in inputs.items():
            taggers = {"cache on": Tagger(tagger.bundle, cache_size=50_000), "cache off": Tagger(tagger.bundle, cache_size=0, form_table=False)}
            if name == "raw" and tagger.tokenizer_kind == "learned":  # the learned segmenter against the rules
                taggers["cache on, rule tokenizer"] = Tagger(tagger.bundle, cache_size=50_000, tokenizer="rules")
            runs = {"bare": lambda: bare_forward(tagger, network_batches[name])}
            runs.update({kind: tag_once(t, data, name) for kind, t in taggers.items()})
            seconds = interleaved(runs, args.repeats)
            results.append({"input": name, "threads": threads, "run": "bare network forward",
                            "words_per_second": round(words[name] / seconds["bare"])})
            for kind, t in taggers.items():
                results.append({
                    "input": name, "threads": threads, "run": f"Tagger.tag, {kind}",
                    "words_per_second": round(words[name] / seconds[kind]),
                    "of_bare_forward": round(seconds["bare"] / seconds[kind], 3),
                    "cache_hit_rate": round(t.cache.hit_rate, 3),
                })
            if "cache on, rule tokenizer" in seconds:  # same text, so the ratio of times is the ratio of words/s
                results[-1]["learned_over_rules"] = round(seconds["cache on, rule tokenizer"] / seconds["cache on"], 3)
    print(json.dumps({
        "model": args.model, "file": str(args.file), "sentences": len(gold), "words": words,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "load_average": os.getloadavg(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
