"""Tag a corpus on a Ray cluster: Ray Data's batch inference, one loaded `Tagger` per actor.

A row of a Ray dataset is a document. `tag_dataset` maps batches of rows through a pool of actors
(`Dataset.map_batches` with a callable class): each actor loads the model once, then segments and
tags the texts of every batch it is handed, so no model travels with the work. Ray Data streams the
rows through with backpressure, reads and writes text, JSONL and Parquet, and schedules the actors
on the cluster's CPUs or GPUs. A text that cannot be tagged (bytes that are not UTF-8, a value that
is no text) comes back as an `error` in its row, and the rest of the job goes on.

    import ray
    from tagger.ray import tag_dataset

    tagged = tag_dataset(ray.data.read_json("corpus.jsonl"), id_column="id", output="tokens")
    tagged.write_parquet("tagged")

How to start a cluster, and how many actors to run on a machine: docs/cluster.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tagger.errors import TaggerError

if TYPE_CHECKING:
    import pyarrow
    import ray.data

    from tagger.inference.documents import TaggedDocument

INSTALL = 'pip install "tagger[ray]"'
OUTPUTS = ("sentences", "tokens")
SENTENCE_COLUMNS = ("sentences", "error")  # what output="sentences" adds to each row
TOKEN_COLUMNS = ("document", "sentence", "error")  # what each row of output="tokens" starts with, then the token's fields


def import_ray(needed_by: str = "") -> ModuleType:
    """Ray with Ray Data, or a TaggerError that names the extra installing them."""
    try:
        import ray
        import ray.data  # noqa: F401  (the part of Ray used here; ray[data] installs its dependencies)
    except ImportError:
        raise TaggerError(f"Ray is not installed{needed_by}: {INSTALL}") from None
    return ray


def actor_resources(device: str, threads: int, num_gpus: float | None = None, option: str = "device=") -> dict[str, float]:
    """What each actor asks Ray for: `threads` CPUs, and on "cuda" `num_gpus` of a GPU (1 by default;
    0.5 puts two actors on each). Ray hands each actor its own GPU, so "cuda:N" is refused; "auto" is
    "cuda" where the cluster has GPUs (connecting to Ray, or starting it, to ask)."""
    ray = import_ray()
    if device not in ("auto", "cpu", "cuda"):
        raise TaggerError(f"{option}{device}: with Ray give cpu, cuda (each actor gets a GPU of its own) or auto")
    if device == "cpu":
        return {"num_cpus": threads, "num_gpus": 0}
    if not ray.is_initialized():
        ray.init()
    if ray.cluster_resources().get("GPU", 0) > 0:
        return {"num_cpus": threads, "num_gpus": num_gpus or 1}
    if device == "cuda":
        raise TaggerError(f"{option}cuda: the Ray cluster has no GPU (`ray status` lists its resources)")
    return {"num_cpus": threads, "num_gpus": 0}


def tag_dataset(
    dataset: ray.data.Dataset,
    model: str | Path = "en_ewt",
    text_column: str = "text",
    output: str = "sentences",
    *,
    id_column: str | None = None,
    batch_size: int = 64,
    concurrency: int | None = None,
    threads: int = 1,
    device: str = "auto",
    num_gpus: float | None = None,
    precision: str = "auto",
    tokenizer: str = "auto",
    language: str | None = None,
    input_format: str = "auto",
    probabilities: bool = False,
) -> ray.data.Dataset:
    """Tag each row's `text_column` (a string, or UTF-8 bytes) as a document; lazily, as Ray datasets are.

    output="sentences": every row as it came, plus `sentences` (its sentence objects, as a line of
    `tagger tag -f json` holds one) and `error` (None, or why the text could not be tagged).
    output="tokens": one row per word, for analytics: `document` (the row's `id_column`), `sentence`
    (its position in the document, from 1), then the word's fields (`id`, `form`, `start`, `end`,
    `upos`, ...); a document that failed is one row with its `error`, one without words has none.

    `batch_size` is texts per batch (segmented and tagged together); `threads` torch threads and CPUs
    per actor; `concurrency` the number of actors (default: as many as the cluster's CPUs or GPUs
    take, started as the data comes; a fixed number taking every CPU leaves none for Ray's readers,
    and the job waits forever). `device` as elsewhere ("auto", "cpu", "cuda"), `num_gpus` per actor
    on "cuda". `model`, `precision`, `tokenizer`, `language`, `input_format` and `probabilities` are
    `Tagger.load`'s and `Tagger.pipe`'s (not `top_k`: its [tag, probability] pairs mix strings and
    numbers, which an Arrow column cannot hold).
    """
    ray = import_ray()
    _check_columns(dataset, output, text_column, id_column)
    resources = actor_resources(device, threads, num_gpus)
    load = {"path_or_name": str(model), "threads": threads, "precision": precision, "tokenizer": tokenizer,
            "language": language, "device": "cuda" if resources["num_gpus"] else "cpu"}
    tag = {"input_format": input_format, "probabilities": probabilities}
    pool = (ray.data.ActorPoolStrategy(size=concurrency) if concurrency else ray.data.ActorPoolStrategy(min_size=1))
    return dataset.map_batches(
        _TagTexts, batch_size=batch_size, batch_format="pyarrow", compute=pool, **resources,
        fn_constructor_kwargs={"load": load, "tag": tag, "text_column": text_column, "id_column": id_column,
                               "output": output})


def _check_columns(dataset: ray.data.Dataset, output: str, text_column: str, id_column: str | None) -> None:
    """Every column named is there, and none that the output adds: a one-line error before any tagging."""
    if output not in OUTPUTS:
        raise TaggerError(f"output={output!r}: give {' or '.join(map(repr, OUTPUTS))}")
    if output == "tokens" and id_column is None:
        raise TaggerError("output='tokens' names each word's document: give id_column= (the column of document ids)")
    columns = dataset.columns()
    for name, column in (("text_column", text_column), ("id_column", id_column)):
        if column is not None and column not in columns:
            raise TaggerError(f"{name}={column!r}: the dataset has no such column (it has {', '.join(columns)})")
    clash = [column for column in SENTENCE_COLUMNS if column in columns and output == "sentences"]
    if clash:
        raise TaggerError(f"the dataset has a column {clash[0]!r}, which output='sentences' adds: rename it first "
                          "(dataset.rename_columns)")


class _TagTexts:
    """An actor of the pool: loads the model once, then tags every batch it is given."""

    def __init__(self, load: dict[str, Any], tag: dict[str, Any], text_column: str, id_column: str | None,
                 output: str) -> None:
        from tagger.inference.tagger import Tagger

        self.tagger = Tagger.load(**load)
        self.options, self.text_column, self.id_column, self.output = tag, text_column, id_column, output

    def __call__(self, batch: pyarrow.Table) -> pyarrow.Table:
        import pyarrow as pa

        documents, errors = self._tag(batch.column(self.text_column).to_pylist())
        if self.output == "tokens":
            return _token_table(batch.column(self.id_column).to_pylist(), documents, errors)
        sentences = [None if document is None else [sentence.to_dict() for sentence in document] for document in documents]
        return batch.append_column("sentences", pa.array(sentences)).append_column("error", pa.array(errors, pa.string()))

    def _tag(self, texts: list) -> tuple[list[TaggedDocument | None], list[str | None]]:
        """Each text's document and error: the batch tagged together, or, where a text in it fails, one by one."""
        try:
            return list(self.tagger.pipe(texts, batch_size=max(1, len(texts)), **self.options)), [None] * len(texts)
        except TaggerError:
            pass  # find the text that failed; the others are tagged as they would have been
        documents, errors = [], []
        for text in texts:
            try:
                documents.append(next(self.tagger.pipe([text], **self.options)))
                errors.append(None)
            except TaggerError as error:  # pipe() names the text by its index, here always 0: the row says which
                documents.append(None)
                errors.append(str(error).removeprefix("pipe(): the text at index 0: "))
        return documents, errors


def _token_table(ids: Sequence, documents: Sequence[TaggedDocument | None], errors: Sequence[str | None]) -> pyarrow.Table:
    """One row per word of `documents`, one per failed document: see `tag_dataset`."""
    import pyarrow as pa

    rows: list[dict] = []
    for document_id, document, error in zip(ids, documents, errors):
        if document is None:
            rows.append({"document": document_id, "error": error})
            continue
        for index, sentence in enumerate(document, start=1):
            rows.extend({"document": document_id, "sentence": index, "error": None, **token}
                        for token in sentence.to_dict()["tokens"])
    names = dict.fromkeys([*TOKEN_COLUMNS, *(key for row in rows for key in row)])
    types = {"sentence": pa.int64(), "error": pa.string()}
    return pa.table({name: pa.array([row.get(name) for row in rows], types.get(name)) for name in names})
