"""Score finished NER runs on their test sets, check the predictions, and print the README table.

    python scripts/ner_results.py runs/ner/uner_pt_bosque runs/ner/uner_hr_set ...

For each run directory (`tagger train experiment=ner data=... hydra.run.dir=RUN`) this tags the
run's test file with RUN/model.safetensors, writes RUN/test.predicted.conllu, scores it with
seqeval (strict IOB2), and counts invalid IOB2 tags in the *written file* (an `I-X` that continues
no X entity) from the NER= values of its MISC column as the `conllu` package reads them, not through
our reader (which would repair them). Training minutes come from `--times FILE` (lines `NAME rc=0 SECONDS`: the
whole `tagger train` command, as a shell loop timed it) where it names the run, else from
`train_seconds` in RUN/scores.json (Lightning's fit alone).
Prints a Markdown table, then one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import conllu
from omegaconf import OmegaConf

from tagger.data.conllu_io import write_conllu
from tagger.data.iob import to_iob2
from tagger.evaluation.evaluate import evaluate_file
from tagger.model.model_file import load_model

# Test F1 of XLM-R-large trained in-language, from the Universal NER paper (Mayhew et al., 2024),
# quoted for reference only: a 560M-parameter pretrained transformer against our CPU BiLSTM.
PUBLISHED_XLMR_LARGE = {"uner_pt_bosque": 90.4, "uner_hr_set": 93.6}


def invalid_tags_in_file(path: Path, key: str = "NER") -> tuple[int, int]:
    """(invalid IOB2 tags, words) in a written CoNLL-U file, its MISC values read by `conllu`."""
    invalid = words = 0
    with path.open(encoding="utf-8") as stream:
        for sentence in conllu.parse_incr(stream):
            tags = [(token["misc"] or {}).get(key, "O") for token in sentence if isinstance(token["id"], int)]
            invalid += to_iob2(tags)[1]
            words += len(tags)
    return invalid, words


def score_run(run_dir: Path, seconds: dict[str, float]) -> dict:
    cfg = OmegaConf.load(run_dir / "config.yaml")
    data = OmegaConf.to_container(cfg.data, resolve=True)
    evaluation = evaluate_file(load_model(run_dir / "model.safetensors"), data["test"], data["format"],
                               data.get("fields"), data["scheme"])
    output = run_dir / "test.predicted.conllu"
    with output.open("w", encoding="utf-8") as stream:
        write_conllu(evaluation.predicted, stream)
    scores = evaluation.scores
    invalid, tokens = invalid_tags_in_file(output)
    recorded = json.loads((run_dir / "scores.json").read_text())
    train_seconds = seconds.get(data["name"], recorded.get("train_seconds"))
    return {
        "data": data["name"],
        "dev_f1": recorded["dev"]["NER-F1"],
        "test_p": scores["NER-P"],
        "test_r": scores["NER-R"],
        "test_f1": scores["NER-F1"],
        "per_type_f1": {k[4:-3]: v for k, v in scores.items() if k.startswith("NER-") and k.endswith("-F1") and k != "NER-F1"},
        "invalid_tags": invalid,
        "tokens": tokens,
        "train_minutes": None if train_seconds is None else train_seconds / 60,
        "xlmr_large": PUBLISHED_XLMR_LARGE.get(data["name"]),
        "predictions": str(output),
    }


def read_times(path: Path | None) -> dict[str, float]:
    if path is None or not path.exists():
        return {}
    times = {}
    for line in path.read_text().splitlines():
        name, *_, seconds = line.split()
        times[name] = float(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--times", type=Path, help="a file of `NAME rc=N SECONDS` lines")
    args = parser.parse_args()
    seconds = read_times(args.times)
    rows = [score_run(run, seconds) for run in args.runs]

    def cell(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    print("| corpus | dev F1 | test P | test R | **test F1** | XLM-R-large test F1 | invalid tags | training (min) |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        print(f"| {row['data']} | {cell(row['dev_f1'])} | {cell(row['test_p'])} | {cell(row['test_r'])} | "
              f"**{cell(row['test_f1'])}** | {cell(row['xlmr_large'])} | {row['invalid_tags']} | "
              f"{cell(row['train_minutes'], 0)} |")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
