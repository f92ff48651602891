"""The Hydra entry point behind `tagger train`: check the config, build, train, export, score.

Every phase runs on the trainer's accelerator. The tagger's model file is written as soon as
the tagger phase ends, and replaced (atomically) once the segmenter is added: a failure or
Ctrl-C in the segmenter phase loses no trained tagger, and `resume=` on such a run goes
straight to the segmenter phase.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ProgressBar

from tagger.data.conllu_io import Sentence
from tagger.data.raw_text import has_raw_text, raw_text
from tagger.errors import DEBUG_ENV, TaggerError
from tagger.evaluation.evaluate import evaluate_file
from tagger.model.model_file import load_model, read_metadata, save_model
from tagger.model.network import TaggerNetwork
from tagger.model.segmenter import Segmenter, SegmenterConfig
from tagger.segmentation.rules import Tokenizer
from tagger.training.accelerator import check_accelerator
from tagger.training.checkpoint_io import AtomicCheckpointIO
from tagger.training.config_errors import built_from_config
from tagger.training.config_schema import TrainConfig, validate_config
from tagger.training.datamodule import TaggingDataModule
from tagger.training.module import TaggerModule
from tagger.training.run_dir import LAST_CHECKPOINT, prepare_run
from tagger.training.segmenter_training import (SELECTION_METRICS, SegmenterTrainingConfig, dev_scores, selection_score,
                                                train_segmenter)
from tagger.training.word_vectors import prepare_word_vectors

log = logging.getLogger("tagger.training.train")  # not __main__, which it is under `tagger train`
OPTIONAL_EXTRAS = {"tensorboard": "tensorboard", "tensorboardX": "tensorboard"}  # package -> extra that installs it


@dataclass
class TrainingObjects:
    """What one run trains with, built from its checked config."""

    datamodule: TaggingDataModule
    module: TaggerModule
    trainer: pl.Trainer


def build_objects(config: TrainConfig, cfg: DictConfig) -> TrainingObjects:
    """Build everything from the config, so a bad value fails here, in one line, before training starts.

    `config` is the checked config; `cfg` the same config as Hydra composed it, whose `_target_`
    sections (optimizer, callbacks, logger) Hydra instantiates. The optimizer is tried on a
    dummy parameter: its options are checked by PyTorch itself.
    """
    model_config = config.model.model_dump()
    datamodule = TaggingDataModule(config.data, config.model.max_word_chars, config.seed)
    vocabs, word_vectors = prepare_word_vectors(model_config, datamodule.build_vocabularies())
    datamodule.vocabs = vocabs  # possibly extended by the vector file's words
    with built_from_config(), optional_packages():
        optimizer = hydra.utils.instantiate(cfg.optimizer)
        try:
            optimizer([torch.nn.Parameter(torch.zeros(1))])
        except (TypeError, ValueError) as error:
            raise TaggerError(f"invalid configuration: optimizer {OmegaConf.to_container(cfg.optimizer)}: {error}") from None
        module = TaggerModule(
            model=model_config,
            vocabs=vocabs.to_dict(),
            optimizer=optimizer,
            warmup_steps=config.schedule.warmup_steps,
            max_warmup_fraction=config.schedule.max_warmup_fraction,
            final_lr_ratio=config.schedule.final_lr_ratio,
            label_smoothing=config.label_smoothing,
            monitor=config.monitor,
        )
        check_monitor(config.monitor, module.dev_metrics())
        callbacks = [hydra.utils.instantiate(callback) for callback in cfg.callbacks.values()]
        if not config.trainer.enable_progress_bar:  # Lightning refuses a progress bar callback with the bar off
            callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
        trainer = pl.Trainer(**config.trainer.model_dump(), callbacks=callbacks, logger=hydra.utils.instantiate(cfg.logger),
                             default_root_dir=config.run_dir, plugins=[AtomicCheckpointIO()])
    if word_vectors is not None:
        found = word_vectors.initialise(module.network.words.embedding.weight, vocabs.words)
        log.info("pretrained vectors for %d of %d words", found, len(vocabs.words) - 2)
    return TrainingObjects(datamodule, module, trainer)


def check_monitor(monitor: str, dev_metrics: list[str]) -> None:
    """The metric that selects checkpoints and stops training must be one the run logs, or the run
    would fail at its first validation, an epoch in."""
    if monitor in dev_metrics:
        return
    spans = [name for name in dev_metrics if name.endswith("_f1")]
    hint = f"; entity data selects on span F1: experiment=ner (or monitor={spans[0]})" if spans else ""
    raise TaggerError(f"monitor={monitor}: this run logs no such dev metric (it logs {', '.join(dev_metrics)}){hint}")


@contextlib.contextmanager
def optional_packages() -> Iterator[None]:
    """A config that needs a package not installed (logger=tensorboard) says how to install it."""
    try:
        yield
    except (ModuleNotFoundError, InstantiationException) as error:
        cause = error if isinstance(error, ModuleNotFoundError) else error.__cause__
        if not isinstance(cause, ModuleNotFoundError):
            raise
        # Lightning's loggers raise it without a module name, naming the package in the message
        package = (cause.name or "").split(".")[0] or next((name for name in OPTIONAL_EXTRAS if f"`{name}`" in str(cause)), "")
        if not package:
            raise
        extra = OPTIONAL_EXTRAS.get(package)
        how = f"pip install 'tagger[{extra}]'" if extra else f"pip install {package}"
        raise TaggerError(f"the configuration needs the package {package!r}, which is not installed: {how}") from None


def check_data_files(config: TrainConfig) -> None:
    """Missing data files, before anything is built; corpus paths name the root they were read from."""
    for split in ("train", "dev", "test"):
        path = getattr(config.data, split)
        if path and not Path(path).is_file():
            root = ""
            if path.startswith(config.data_dir):
                root = (f" (corpus files are read from data_dir={config.data_dir}, here {Path(config.data_dir).resolve()}; "
                        f"set data_dir=PATH or the TAGGER_DATA_DIR environment variable)")
            raise TaggerError(f"{path}: data.{split}: no such file{root}")


def wants_segmenter(config: TrainConfig, train_sentences: list[Sentence]) -> bool:
    """Whether this run learns a segmenter: asked for (`segmenter.learn=true`, an error without raw text),
    or by default where the training data is CoNLL-U with raw text to learn from."""
    learn = config.segmenter.learn
    if learn is False:
        return False
    if learn == "auto":
        return config.data.format == "conllu" and config.data.dev is not None and has_raw_text(train_sentences)
    if config.data.format != "conllu" or not has_raw_text(train_sentences):
        raise TaggerError(f"segmenter.learn=true, but {config.data.train} has no raw text (no # text, no SpaceAfter): "
                          "a segmenter cannot be learned from it; set segmenter.learn=false to tokenize raw text by rules")
    return True


def learn_segmenter(config: TrainConfig, datamodule: TaggingDataModule, device: torch.device) -> tuple[Segmenter, dict]:
    """The segmenter learned from train, chosen on dev, and its dev Tokens, Sentences and Words F1 (and step)."""
    segmenter, report = train_segmenter(
        datamodule.read("train"), datamodule.read("dev"), SegmenterConfig(**config.segmenter.network.model_dump()),
        SegmenterTrainingConfig(**config.segmenter.training.model_dump()), source=config.data.train, device=device,
        progress=config.trainer.enable_progress_bar and sys.stderr.isatty(),  # where Lightning shows its bar
    )
    log.info("segmenter: dev %s after %.1f minutes", _figures(report["dev"]), report["minutes"])
    return segmenter, report["dev"]


def segmenter_or_rules(config: TrainConfig, dev: list[Sentence], learned: dict[str, float]) -> dict:
    """Whether raw text goes through the learned segmenter or the rule tokenizer, by their dev figures.

    Both segment the same dev text, scored as the segmenter was chosen (Tokens + Sentences + Words
    F1): a segmenter that does worse than the rules (too few steps, too little raw text) is not
    kept, so no model segments worse by default than the rules it would otherwise use, and the
    warning says so; `segmenter.learn=true` keeps it anyway. The result goes into the model's
    provenance as `segmenter_dev`: {"learned": {...}, "rules": {...}, "tokenizer": "learned" or "rules"}.
    """
    rules = dev_scores(Tokenizer(config.data.language), dev, raw_text(dev, "dev"))
    better = selection_score(learned) >= selection_score(rules)
    figures = f"dev {_figures(learned)}, the rules' {_figures(rules)}"
    if better:
        log.info("the learned segmenter segments raw text: %s", figures)
    elif config.segmenter.learn is True:
        log.warning("the learned segmenter does worse than the rule tokenizer (%s); kept, as segmenter.learn=true asks", figures)
    else:
        log.warning("the learned segmenter does worse than the rule tokenizer (%s): not kept, raw text goes through the "
                    "rules; more segmenter.training.max_steps may help (segmenter.learn=true keeps it anyway)", figures)
    tokenizer = "learned" if better or config.segmenter.learn is True else "rules"
    return {"learned": learned, "rules": rules, "tokenizer": tokenizer}


def _figures(scores: dict[str, float]) -> str:
    return "  ".join(f"{name} {scores[name]:.2f}" for name in SELECTION_METRICS)


@contextlib.contextmanager
def segmenter_threads(threads: int | None, device: torch.device) -> Iterator[None]:
    """The segmenter phase on the CPU runs on `threads`, one where it is not set; the process's count is
    given back afterwards. Each step of the segmenter is many tiny operations (16 windows through a
    BiLSTM 48 wide), which further threads barely share out, but every one of them waits for all the
    threads: beside a busy process on the same cores two threads made the phase 7x slower than one
    (scripts/bench_segmenter_threads.py). Lightning's DDP launcher sets each process's share itself."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def without_lightning_noise(resuming: bool) -> Iterator[None]:
    """Silence what Lightning prints on every run that a user can do nothing about: its tips to install
    its cloud services, torch's deprecation of a helper inside Lightning (LeafSpec), the advice to log
    more often than once an epoch (the epoch's mean loss is logged anyway), and on `resume=`, that the
    checkpoint directory it resumes from holds checkpoints."""
    def not_a_tip(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("\N{ELECTRIC LIGHT BULB} Tip:")

    lightning_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
        warnings.filterwarnings("ignore", r"The number of training batches \(\d+\) is smaller than the logging interval")
        if resuming:
            warnings.filterwarnings("ignore", r"Checkpoint directory .* exists and is not empty")
        lightning_log.addFilter(not_a_tip)
        try:
            yield
        finally:
            lightning_log.removeFilter(not_a_tip)


class _Interrupted(BaseException):
    """Ctrl-C during a training phase. Not a KeyboardInterrupt: Lightning turns that into its own message
    and exit 1, while other exceptions it passes on after its teardown."""


@contextlib.contextmanager
def interrupts_say_how_to_resume(run_dir: Path) -> Iterator[None]:
    """Ctrl-C in the tagger phase ends in a KeyboardInterrupt whose message names the run directory and
    the `resume=` command that continues it (`tagger train` prints it and exits 130); the segmenter
    phase says its own (`add_segmenter`)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the teardown short
        raise _Interrupted

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    except _Interrupted:
        if (run_dir / LAST_CHECKPOINT).is_file():
            raise KeyboardInterrupt(f"interrupted; the run is kept in {run_dir}: "
                                    f"`tagger train resume={run_dir}` continues it from its last checkpoint") from None
        raise KeyboardInterrupt(f"interrupted before the first checkpoint of {run_dir}: nothing to resume, "
                                "start the run again") from None
    finally:
        signal.signal(signal.SIGINT, previous)


def fit_tagger(
    config: TrainConfig, cfg: DictConfig, objects: TrainingObjects, checkpoint: Path | None
) -> tuple[dict | None, float]:
    """Train the tagger and write its model file (the best-on-dev weights) before any further phase.

    Returns the file's provenance (None on the DDP ranks that export nothing) and the seconds
    `fit` took in this invocation (a resumed run counts only its own part).
    """
    trainer, module, datamodule = objects.trainer, objects.module, objects.datamodule
    started = time.monotonic()
    with interrupts_say_how_to_resume(Path(config.run_dir)):
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(checkpoint) if checkpoint else None)
    seconds = time.monotonic() - started
    if not trainer.is_global_zero:
        return None, seconds
    best = trainer.checkpoint_callback.best_model_path or trainer.checkpoint_callback.last_model_path
    if best:  # export the best-on-dev weights, not the last ones
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    provenance = {
        "data": config.data.name,
        "language": config.data.language,
        "train": config.data.train,
        "best_checkpoint_epoch": _epoch_of(best),
        "best_dev": {config.monitor: _as_float(trainer.checkpoint_callback.best_model_score)},
        "tagger_steps": trainer.global_step,  # which checkpoint the tagger phase ended at (see tagger_phase_ended)
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    save_model(config.output_model, module.network, datamodule.vocabs, provenance)
    log.info("tagger written to %s", config.output_model)
    return provenance, seconds


def tagger_phase_ended(model_file: Path, checkpoint: Path) -> bool:
    """Whether a run being resumed ended its tagger phase already: its model file has no segmenter
    and was exported at the step of the run's last checkpoint (a run trained further since has not)."""
    if not model_file.is_file() or "segmenter" in (metadata := read_metadata(model_file)):
        return False
    steps = json.loads(metadata.get("provenance", "{}")).get("tagger_steps")
    return steps == torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["global_step"]


def add_segmenter(config: TrainConfig, datamodule: TaggingDataModule, network: TaggerNetwork, provenance: dict,
                  device: torch.device) -> float:
    """Learn the segmenter on `device` and replace the tagger's model file by one that carries it; the seconds taken.

    A failure or Ctrl-C here leaves the tagger's file as the tagger phase wrote it, and says so in
    one line with the command that tries the segmenter again.
    """
    started = time.monotonic()
    kept = f"the tagger is saved, without a segmenter, in {config.output_model}; `tagger train resume={config.run_dir}` learns it"
    try:
        with segmenter_threads(config.threads, device):
            segmenter, learned = learn_segmenter(config, datamodule, device)
            provenance["segmenter_dev"] = segmenter_or_rules(config, datamodule.read("dev"), learned)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted in the segmenter phase: {kept}") from None
    except Exception as error:
        reason = str(error) if isinstance(error, TaggerError) else f"{type(error).__name__}: {error}"
        raise TaggerError(f"the segmenter phase failed ({(reason.splitlines() or [''])[0]}): {kept}") from error
    if provenance["segmenter_dev"]["tokenizer"] == "learned":
        save_model(config.output_model, network, datamodule.vocabs, provenance, segmenter=segmenter)
        log.info("model with its segmenter written to %s", config.output_model)
    else:
        save_model(config.output_model, network, datamodule.vocabs, provenance)
        log.info("model written to %s, with the segmenter's and the rules' dev figures", config.output_model)
    return time.monotonic() - started


def train(cfg: DictConfig) -> dict:
    """Train one model as `cfg` says; return the final scores. Usable without Hydra's CLI."""
    with without_lightning_noise(resuming=bool(cfg.resume)):
        return _train(cfg)


def _train(cfg: DictConfig) -> dict:
    if not cfg.resume:
        validate_config(cfg)  # a fresh run's config, before anything is written
    cfg, checkpoint = prepare_run(cfg)
    config = validate_config(cfg)  # a resumed run's saved config, with this command's overrides
    check_accelerator(config.trainer)
    if checkpoint is None and config.ckpt_path:  # start a new run dir from any Lightning checkpoint
        checkpoint = Path(config.ckpt_path)
        if not checkpoint.is_file():
            raise TaggerError(f"ckpt_path={config.ckpt_path}: no such checkpoint file")
    check_data_files(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    pl.seed_everything(config.seed, workers=True)
    objects = build_objects(config, cfg)
    segment = wants_segmenter(config, objects.datamodule.read("train"))  # before training: a refusal costs nothing
    output_model = Path(config.output_model)

    if config.resume and segment and tagger_phase_ended(output_model, checkpoint):
        log.info("resume: the tagger phase of %s has ended; learning its segmenter", config.resume)
        bundle = load_model(output_model)
        network, provenance, train_seconds = bundle.network, bundle.provenance, 0.0
    else:
        provenance, train_seconds = fit_tagger(config, cfg, objects, checkpoint)
        if provenance is None:
            return {}
        network = objects.module.network
    scores: dict = {"model": str(output_model), "train_seconds": round(train_seconds, 1)}
    if segment:  # on the device the tagger trained on (Lightning has moved the module back to the CPU)
        device = objects.trainer.strategy.root_device
        scores["segmenter_seconds"] = round(add_segmenter(config, objects.datamodule, network, provenance, device), 1)
        scores["segmenter_dev"] = provenance["segmenter_dev"]

    bundle = load_model(output_model)  # score the file as users will load it
    for split in ("dev", "test"):
        path = getattr(config.data, split)
        if path and (split == "dev" or config.evaluate_test):
            scores[split] = evaluate_file(bundle, path, config.data.format, config.data.fields, config.data.scheme).scores
            log.info("%s scores: %s", split, "  ".join(f"{name} {value:.2f}" for name, value in scores[split].items()))
    (Path(config.run_dir) / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def _as_float(value) -> float | None:
    return None if value is None else float(value)


def _epoch_of(checkpoint: str) -> int | None:
    if not checkpoint:
        return None
    return torch.load(checkpoint, map_location="cpu", weights_only=True).get("epoch")


def _remove_if_unused(run_dir: Path) -> None:
    """A run that failed before training leaves no directory behind (Hydra made it, with its .hydra/ record and log)."""
    if run_dir.is_dir() and all(path.name in (".hydra", "config.yaml") or path.suffix == ".log" for path in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


@hydra.main(version_base="1.3", config_path="pkg://tagger.conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except TaggerError as error:
        if os.environ.get(DEBUG_ENV):
            raise
        from hydra.core.hydra_config import HydraConfig

        output_dir = Path(HydraConfig.get().runtime.output_dir)
        if not cfg.get("resume") or Path(cfg.resume).resolve() != output_dir.resolve():
            _remove_if_unused(output_dir)
        print(f"tagger train: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interrupt:  # Ctrl-C: how to go on, and the shell's code for it
        if str(interrupt):
            print(f"tagger train: {interrupt}", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # how `tagger train` runs it, and how Lightning restarts it in each DDP process
    main()
