"""The one evaluate path: tag a gold file with a model and score it.

`tagger eval`, the end of `tagger train` and `scripts/ner_results.py` all call `evaluate_file`,
so a score means the same wherever it is printed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tagger.data.conllu_io import Sentence
from tagger.data.readers import read_data
from tagger.evaluation.metrics import tagging_scores
from tagger.model.model_file import ModelBundle
from tagger.model.predictor import Predictor


@dataclass
class Evaluation:
    """Scores of a model on a gold file, with the gold and predicted sentences they came from."""

    scores: dict[str, float]
    gold: list[Sentence]
    predicted: list[Sentence]


def evaluate_file(
    model: ModelBundle | Predictor,
    path: str | Path,
    format: str = "conllu",
    fields: Sequence[str] | None = None,
    scheme: str = "auto",
) -> Evaluation:
    """Read a gold file (CoNLL-U, UNER or column file), predict the model's columns on a copy, score.

    Accuracies for POS-like columns (AllTags over them), seqeval span P/R/F1 for entity columns.
    """
    predictor = model if isinstance(model, Predictor) else Predictor(model)
    gold = read_data(path, format, fields, scheme, predictor.columns)
    predicted = predictor.predict(copy.deepcopy(gold))
    return Evaluation(tagging_scores(gold, predicted, predictor.columns), gold, predicted)
