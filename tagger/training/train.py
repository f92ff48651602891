"""The Hydra entry point behind `tagger train`: compose the config, train, export, score."""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from tagger.data.datamodule import TaggingDataModule
from tagger.data.ner_io import read_data
from tagger.errors import DEBUG_ENV, TaggerError
from tagger.evaluation import tagging_scores
from tagger.inference.tagger import Tagger
from tagger.model.pretrained import prepare_word_vectors
from tagger.model_file import load_model, save_model
from tagger.training.checkpoint_io import AtomicCheckpointIO
from tagger.training.config_errors import built_from_config, check_types
from tagger.training.module import TaggerModule, warmup_cosine
from tagger.training.run_dir import prepare_run

log = logging.getLogger("tagger.training.train")  # not __main__, which it is under `tagger train`


def train(cfg: DictConfig) -> dict:
    """Train one model as `cfg` says; return the final scores. Usable without Hydra's CLI."""
    cfg, checkpoint = prepare_run(cfg)
    if checkpoint is None and cfg.ckpt_path:  # start a new run dir from any Lightning checkpoint
        checkpoint = Path(cfg.ckpt_path)
        if not checkpoint.is_file():
            raise TaggerError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint file")
    run_dir = Path(cfg.run_dir)
    output_model = Path(cfg.output_model)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)

    data_options = OmegaConf.to_container(cfg.data, resolve=True)
    with built_from_config():
        check_types(TaggingDataModule.__init__, data_options, "data")
        datamodule = TaggingDataModule(**data_options, seed=cfg.seed)
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    vocabs, word_vectors = prepare_word_vectors(model_config, datamodule.build_vocabularies())
    datamodule.vocabs = vocabs  # possibly extended by the vector file's words
    with built_from_config():
        optimizer = hydra.utils.instantiate(cfg.optimizer)
        try:  # bad optimizer options fail here, not deep inside fit
            optimizer([torch.nn.Parameter(torch.zeros(1))])
        except (TypeError, ValueError) as error:
            raise TaggerError(f"invalid configuration: optimizer {OmegaConf.to_container(cfg.optimizer)}: {error}") from None
        warmup_cosine(int(cfg.schedule.warmup_steps), 1, float(cfg.schedule.final_lr_ratio))
        module = TaggerModule(
            model=model_config,
            vocabs=vocabs.to_dict(),
            optimizer=optimizer,
            warmup_steps=cfg.schedule.warmup_steps,
            final_lr_ratio=cfg.schedule.final_lr_ratio,
            label_smoothing=cfg.label_smoothing,
        )
    if word_vectors is not None:
        found = word_vectors.initialise(module.network.words.embedding.weight, vocabs.words)
        log.info("pretrained vectors for %d of %d words", found, len(vocabs.words) - 2)
    with built_from_config():
        callbacks = [hydra.utils.instantiate(callback) for callback in cfg.callbacks.values()]
        trainer_options = OmegaConf.to_container(cfg.trainer, resolve=True)
        check_types(pl.Trainer.__init__, trainer_options, "trainer")
        trainer = pl.Trainer(**trainer_options, callbacks=callbacks,
                             logger=hydra.utils.instantiate(cfg.logger), default_root_dir=str(run_dir),
                             plugins=[AtomicCheckpointIO()])
    started = time.monotonic()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(checkpoint) if checkpoint else None)
    train_seconds = time.monotonic() - started  # of this invocation: a resumed run counts only its own part
    if not trainer.is_global_zero:
        return {}

    best = trainer.checkpoint_callback.best_model_path or trainer.checkpoint_callback.last_model_path
    if best:  # export the best-on-dev weights, not the last ones
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    provenance = {
        "data": cfg.data.name,
        "language": datamodule.language,
        "train": data_options["train"],
        "best_checkpoint_epoch": _epoch_of(best),
        "best_dev": {cfg.monitor: _as_float(trainer.checkpoint_callback.best_model_score)},
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    save_model(output_model, module.network, vocabs, provenance)
    log.info("model written to %s", output_model)

    scores: dict = {"model": str(output_model), "train_seconds": round(train_seconds, 1)}
    for split in ("dev", "test"):
        path = data_options.get(split)
        if path and (split == "dev" or cfg.evaluate_test):
            scores[split] = evaluate_file(output_model, path, datamodule.columns, datamodule.format, datamodule.fields,
                                          datamodule.scheme)
            log.info("%s scores: %s", split, json.dumps(scores[split]))
    (run_dir / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def _as_float(value) -> float | None:
    return None if value is None else float(value)


def _epoch_of(checkpoint: str) -> int | None:
    if not checkpoint:
        return None
    return torch.load(checkpoint, map_location="cpu", weights_only=True).get("epoch")


def evaluate_file(
    model: str | Path,
    path: str | Path,
    columns: list[str] | None = None,
    format: str = "conllu",
    fields: list[str] | None = None,
    scheme: str = "auto",
) -> dict[str, float]:
    """Tag a gold file and score it: accuracies for POS-like columns, span P/R/F1 for entity columns."""
    tagger = Tagger(load_model(model))
    columns = columns or tagger.columns
    gold = read_data(path, format, fields, scheme, columns)
    predicted = tagger.predict(copy.deepcopy(gold))
    return tagging_scores(gold, predicted, columns)


@hydra.main(version_base="1.3", config_path="pkg://tagger.conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except TaggerError as error:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"tagger train: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":  # how `tagger train` runs it, and how Lightning restarts it in each DDP process
    main()
