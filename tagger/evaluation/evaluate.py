"""The one evaluate path: tag a gold file with a model and score it.

`tagger eval`, the end of `tagger train` and `scripts/ner_results.py` all call `evaluate_file`,
so a score means the same wherever it is printed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tagger.data.conllu_io import Sentence, read_conllu
from tagger.data.raw_text import raw_text
from tagger.data.readers import is_annotated, read_data
from tagger.errors import TaggerError
from tagger.evaluation.conll18 import evaluate_conll18
from tagger.evaluation.metrics import METRIC_NAMES, entity_label, metric_name, tagging_scores
from tagger.model.model_file import ModelBundle
from tagger.prediction.predictor import Predictor


@dataclass
class Evaluation:
    """Scores of a model on a gold file, with the gold and predicted sentences they came from.

    `not_annotated` names the model's columns the file has no values for (its format lacks them,
    or they are `_` throughout): they have no score, rather than a meaningless 0 or 100.
    """

    scores: dict[str, float]
    gold: list[Sentence]
    predicted: list[Sentence]
    not_annotated: list[str] = field(default_factory=list)


def annotated_columns(gold: Sequence[Sentence], columns: Sequence[str], source: str | Path) -> tuple[list[str], list[str]]:
    """The columns `gold` has values for, and the names of those it has not; none shared is an error."""
    annotated = [column for column in columns if is_annotated(column, gold)]
    if not annotated:
        names = ", ".join(_label(column) for column in columns)
        raise TaggerError(f"{source}: the file annotates none of the model's columns ({names}); "
                          "is it the gold file for this model (or does --format misread it)?")
    return annotated, [_label(column) for column in columns if column not in annotated]


def _label(column: str) -> str:
    return metric_name(column) if column in METRIC_NAMES else entity_label(column)


def evaluate_file(
    model: ModelBundle | Predictor,
    path: str | Path,
    format: str = "conllu",
    fields: Sequence[str] | None = None,
    scheme: str = "auto",
) -> Evaluation:
    """Read a gold file (CoNLL-U, UNER or column file), predict the model's columns on a copy, score.

    Accuracies for POS-like columns (AllTags over them), seqeval span P/R/F1 for entity columns.
    A model file is scored in float32, so its scores do not depend on the CPU that computes them;
    pass a `Predictor` to score another precision.
    """
    predictor = model if isinstance(model, Predictor) else Predictor(model, precision="float32")
    gold = read_data(path, format, fields, scheme, predictor.columns)
    columns, not_annotated = annotated_columns(gold, predictor.columns, path)
    predicted = predictor.predict(copy.deepcopy(gold))
    return Evaluation(tagging_scores(gold, predicted, columns), gold, predicted, not_annotated)


def evaluate_raw(path: str | Path, tag_text: Callable[[str], list[Sentence]], columns: Sequence[str]) -> Evaluation:
    """Score the whole pipeline from raw text, the CoNLL 2018 way.

    The gold file's raw text (`tagger.data.raw_text`: `# text`, `SpaceAfter=No`, paragraph
    marks) goes through `tag_text` (tokenization, sentence splitting, multiword tokens, tagging);
    its output is aligned to the gold file by characters: Tokens, Sentences and Words F1, then
    F1 of each tagged column over aligned words (UFeats over universal features, as the shared task).
    """
    gold = read_conllu(path)
    columns, not_annotated = annotated_columns(gold, columns, path)
    predicted = tag_text(raw_text(gold, str(path)))
    scores = evaluate_conll18(gold, predicted)
    tagged = {metric_name(column) for column in columns}
    keep = ["Tokens", "Sentences", "Words", *[m for m in ("UPOS", "XPOS", "UFeats", "Lemmas") if m in tagged]]
    if len(tagged & {"UPOS", "XPOS", "UFeats"}) > 1:
        keep.insert(keep.index("Lemmas") if "Lemmas" in keep else len(keep), "AllTags")
    return Evaluation({name: scores[name].f1 for name in keep}, gold, predicted, not_annotated)
