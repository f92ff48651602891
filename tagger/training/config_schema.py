"""Typed schema of the training config: every key's type and range, checked once it is composed.

The defaults live in `conf/` only; this schema says what a value may be, so a wrong one is one
line naming the key and what is allowed (`model.encoder.layers=0: expected an integer >= 1`)
before anything is built, instead of a traceback from deep inside training. Objects built with
`_target_` (optimizer, callbacks, logger) keep their own arguments; `build_objects` in
`tagger.training.train` checks those by building them.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tagger.data.languages import EXAMPLES, is_language_code
from tagger.errors import TaggerError

# `${tagger_samples:}` in conf/data/sample.yaml: the samples shipped inside the package, so
# `tagger train data=sample` works from any directory
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
OmegaConf.register_new_resolver("tagger_samples", lambda: str(SAMPLES_DIR), replace=True)

PositiveInt = Annotated[int, Field(ge=1)]
# Hydra reads `data.name=2024` as a number, yet it is a fine name
Name = Annotated[str, BeforeValidator(lambda value: str(value) if isinstance(value, (int, float)) else value), Field(min_length=1)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


class _Section(BaseModel):
    """Strict: a string is not a number, and a key the schema does not know is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _OpenSection(BaseModel):
    """Known keys typed; further keys (extra `pl.Trainer` or optimizer arguments) pass through."""

    model_config = ConfigDict(extra="allow", strict=True)


class DataConfig(_Section):
    name: Name
    language: str | None  # ISO 639 code: raw text gets that language's tokenizer
    format: Literal["conllu", "uner", "columns"]
    fields: list[str] | None  # the columns of a column file
    scheme: Literal["auto", "iob1", "iob2", "bioes"]
    train: str
    dev: str | None
    test: str | None
    columns: Annotated[list[str], Field(min_length=1)]
    min_word_freq: PositiveInt
    max_tokens: PositiveInt
    eval_max_tokens: PositiveInt


class GRUConfig(_Section):
    type: Literal["gru"]
    char_dim: PositiveInt
    hidden_size: PositiveInt


class CNNConfig(_Section):
    type: Literal["cnn"]
    char_dim: PositiveInt
    filters: PositiveInt
    kernel_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    highway_layers: Annotated[int, Field(ge=0)]


class EncoderConfig(_Section):
    hidden_size: PositiveInt
    layers: PositiveInt


class WordVectorsConfig(_Section):
    pretrained: str | None
    extend_vocab: bool
    max_vectors: PositiveInt | None


class ModelConfig(_Section):
    word_dim: PositiveInt
    word_dropout: Probability
    dropout: Probability
    max_word_chars: Annotated[int, Field(ge=2)]
    encoder: EncoderConfig
    cle: Annotated[GRUConfig | CNNConfig, Field(discriminator="type")]
    word_embeddings: WordVectorsConfig


class TrainerConfig(_OpenSection):
    accelerator: str
    devices: PositiveInt | str | list[int]
    strategy: str
    num_nodes: PositiveInt
    max_epochs: PositiveInt
    max_time: str | None
    gradient_clip_val: Annotated[float, Field(ge=0.0)] | None
    precision: str | int
    log_every_n_steps: PositiveInt
    num_sanity_val_steps: Annotated[int, Field(ge=-1)]
    use_distributed_sampler: bool
    deterministic: bool | Literal["warn"]
    limit_train_batches: Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0.0, le=1.0)] | None
    limit_val_batches: Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0.0, le=1.0)] | None
    enable_progress_bar: bool
    enable_model_summary: bool


class OptimizerConfig(_OpenSection):
    target: str = Field(alias="_target_")
    partial: Literal[True] = Field(alias="_partial_")  # the module passes the parameters
    lr: Annotated[float, Field(gt=0.0)]


class ScheduleConfig(_Section):
    warmup_steps: Annotated[int, Field(ge=0)]
    max_warmup_fraction: Annotated[float, Field(ge=0.0, le=1.0)]  # of the planned steps: short runs warm up briefly
    final_lr_ratio: Annotated[float, Field(ge=0.0, le=1.0)]


class SegmenterNetworkConfig(_Section):
    embedding_dim: PositiveInt
    hidden_size: PositiveInt
    layers: PositiveInt
    dropout: Probability
    window: Annotated[int, Field(ge=8)]
    context: Annotated[int, Field(ge=0)]


class SegmenterTrainingSection(_Section):
    max_steps: PositiveInt
    eval_every: PositiveInt
    patience: PositiveInt
    batch_size: PositiveInt
    window: Annotated[int, Field(ge=8)]
    learning_rate: Annotated[float, Field(gt=0.0)]
    sentence_end_weight: Annotated[float, Field(gt=0.0)]
    char_dropout: Probability
    min_rule_count: PositiveInt
    seed: int
    text_ends: Probability


class SegmenterSection(_Section):
    learn: Literal["auto"] | bool
    network: SegmenterNetworkConfig
    training: SegmenterTrainingSection


class TrainConfig(_Section):
    data: DataConfig
    model: ModelConfig
    trainer: TrainerConfig
    callbacks: dict[str, dict[str, Any]]
    logger: dict[str, Any] | None
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    label_smoothing: Probability
    segmenter: SegmenterSection
    data_dir: str
    seed: int
    threads: PositiveInt | None
    run_dir: str
    resume: str | None
    ckpt_path: str | None
    output_model: str
    evaluate_test: bool
    monitor: str


def validate_config(cfg: DictConfig) -> TrainConfig:
    """The composed config, checked against the schema; a `TaggerError` naming the first bad key otherwise."""
    try:
        values = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        hint = " or choose a corpus (data=en_ewt, ...)" if error.full_key.startswith("data.") else ""
        raise TaggerError(f"{error.full_key} is not set: give it on the command line ({error.full_key}=...){hint}") from None
    values.pop("hydra", None)
    try:
        config = TrainConfig.model_validate(values)
    except ValidationError as error:
        raise TaggerError(_message(error, values)) from None
    network = config.segmenter.network
    if network.window <= 2 * network.context:  # a window must have a centre: inference reads only that
        raise TaggerError(f"segmenter.network.window={network.window}: expected more than twice "
                          f"segmenter.network.context ({network.context}), the characters read only as context on each side")
    language = config.data.language
    if language is not None and not is_language_code(language):  # as `tagger tag --language` checks it
        raise TaggerError(f"data.language={language!r}: expected an ISO 639 language code ({EXAMPLES}) or null")
    return config


def _message(error: ValidationError, values: dict) -> str:
    """One line for the first problem: the key, its value and what the schema allows there."""
    problem = error.errors()[0]
    location = [str(part) for part in problem["loc"] if not _is_union_tag(part)]
    key = ".".join(location)
    if problem["type"] == "extra_forbidden":
        parent, name = location[:-1], location[-1]
        known = _field_names(parent)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{'.'.join([*parent, close[0]])}'?" if close else f"known keys there: {', '.join(known)}"
        return f"unknown config key '{key}' ({hint})"
    if problem["type"] == "union_tag_invalid":  # model.cle.type=lstm
        context = problem["ctx"]
        return f"{key}.{context['discriminator'].strip(chr(39))}={context['tag']!r}: expected one of {context['expected_tags'].replace(chr(39), '')}"
    if problem["type"] == "missing":
        return f"config key '{key}' is missing: set it on the command line ({key}=...) or in its config file"
    value = _lookup(values, problem["loc"])
    expected = _expected(location) or problem["msg"].removeprefix("Input should be ")
    return f"{key}={value!r}: expected {expected}"


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member it tried into the location ("cle.gru.hidden_size", "devices.int")
    return isinstance(part, str) and (part in ("gru", "cnn") or "[" in part or part in ("int", "str", "float", "bool", "list"))


def _lookup(values: Any, location: tuple) -> Any:
    for part in location:
        if isinstance(values, dict) and part in values:
            values = values[part]
        elif isinstance(values, list) and isinstance(part, int) and part < len(values):
            values = values[part]
    return values


def _model_at(location: list[str], field_name: str | None = None) -> type[BaseModel] | None:
    """The schema section at `location`; of a union of sections (cle: gru or cnn), the one that has `field_name`."""
    model: type[BaseModel] | None = TrainConfig
    for depth, name in enumerate(location):
        field = model.model_fields.get(name) if model else None
        if field is None:
            return None
        models = [t for t in _members(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        wanted = location[depth + 1] if depth + 1 < len(location) else field_name
        model = next((m for m in models if wanted in m.model_fields), models[0] if models else None)
    return model


def _field_names(location: list[str]) -> list[str]:
    model = _model_at(location)
    return [field.alias or name for name, field in model.model_fields.items()] if model else []


def _members(annotation: Any) -> list[Any]:
    """The types a (possibly Annotated, Optional or union) annotation admits."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return [member for arg in typing.get_args(annotation) for member in _members(arg)]
    return [annotation]


def _expected(location: list[str]) -> str | None:
    """What a field admits, in words: "an integer >= 1", "one of conllu, uner, columns", "a number or null"."""
    model = _model_at(location[:-1], location[-1])
    field = model.model_fields.get(location[-1]) if model else None
    if field is None:
        return None
    return _describe(field.annotation, field.metadata)


def _describe(annotation: Any, metadata: list[Any]) -> str:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extra = typing.get_args(annotation)
        constraints = [c for item in extra for c in (item.metadata if hasattr(item, "metadata") else [item])]
        return _describe(inner, [*metadata, *constraints])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return " or ".join(dict.fromkeys(_describe(arg, metadata if i == 0 else []) for i, arg in enumerate(typing.get_args(annotation))))
    if origin is Literal:
        return "one of " + ", ".join(str(value).lower() if isinstance(value, bool) else str(value) for value in typing.get_args(annotation))
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
    if origin is list:
        sizes = [c.min_length for c in metadata if isinstance(c, annotated_types.MinLen)]
        text = f"a list of at least {sizes[0]} item(s)" if sizes else "a list"
    elif origin is dict:
        text = "a mapping"
    else:
        text = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = {annotated_types.Ge: ("ge", ">="), annotated_types.Gt: ("gt", ">"), annotated_types.Le: ("le", "<="),
              annotated_types.Lt: ("lt", "<")}
    limits = [f"{bounds[type(c)][1]} {getattr(c, bounds[type(c)][0])}" for c in metadata if type(c) in bounds]
    if len(limits) == 2 and limits[0].startswith(">") and limits[1].startswith("<"):
        low, high = limits
        left = "[" if low.startswith(">=") else "("
        right = "]" if high.startswith("<=") else ")"
        return f"{text} in {left}{low.split()[1]}, {high.split()[1]}{right}"
    return " ".join([text, *limits])
