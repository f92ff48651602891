"""The run directory: nothing in it is overwritten, and `resume=RUN_DIR` continues it as it was.

A fresh run writes its resolved config to RUN_DIR/config.yaml. Resuming reads that config back,
so `tagger train resume=RUN_DIR` rebuilds the same model and data however the run was started;
key=value overrides given alongside `resume` (e.g. trainer.max_epochs=80) apply on top.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from tagger.errors import TaggerError

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
# Keys that configs saved by earlier versions lack, with the values those runs were built with.
LEGACY_KEYS = {
    "model.max_word_chars": 32,
    "data.format": "conllu",
    "data.fields": None,
    "data.scheme": "auto",
    "data.language": None,
    "schedule.max_warmup_fraction": 1.0,  # no cap on the warm-up
    "segmenter.training.text_ends": 0.0,  # no windows cut at a text's edges
}
# Sections added since, taken from today's defaults; `learn: false` keeps such a run on the rules it had.
LEGACY_SECTIONS = {"segmenter": {"learn": False}}


def prepare_run(cfg: DictConfig) -> tuple[DictConfig, Path | None]:
    """The config to train with, and the checkpoint to resume from (None for a fresh run)."""
    if not cfg.resume:
        run_dir = Path(cfg.run_dir)
        if (run_dir / LAST_CHECKPOINT).exists():
            raise TaggerError(f"{run_dir} holds a run already: resume={run_dir} continues it, or train into another directory")
        if Path(cfg.output_model).exists():
            raise TaggerError(f"output_model={cfg.output_model} exists; choose another path or remove it first")
        _save_config(cfg, run_dir / CONFIG_FILE)
        return cfg, None

    run_dir = Path(cfg.resume)
    checkpoint = run_dir / LAST_CHECKPOINT
    if not checkpoint.is_file():
        raise TaggerError(f"resume={cfg.resume}: no {LAST_CHECKPOINT} there to resume from")
    saved = run_dir / CONFIG_FILE
    if saved.is_file():
        cfg = _apply_overrides(_with_legacy_keys(OmegaConf.load(saved), cfg), _command_line_overrides())
    else:  # a run from before config.yaml was written: trust the command line
        log.warning("%s has no %s: resuming with the config of this command line", run_dir, CONFIG_FILE)
        cfg.run_dir = str(run_dir)
    cfg.resume = str(run_dir)
    if "version" in cfg.logger:  # a logger writing into the old log directory would replace its files
        cfg.logger.version = datetime.now().strftime("resumed_%Y-%m-%d_%H-%M-%S")
    log.info("resuming %s from %s", run_dir, checkpoint)
    return cfg, checkpoint


def _with_legacy_keys(cfg: DictConfig, defaults: DictConfig) -> DictConfig:
    """A config saved by an earlier version, completed with what that version built its runs with."""
    for section, fixed in LEGACY_SECTIONS.items():  # first: a key below would start a section of one key
        if section not in cfg and section in defaults:
            OmegaConf.update(cfg, section, OmegaConf.merge(defaults[section], fixed), force_add=True)
    for key, value in LEGACY_KEYS.items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


@rank_zero_only
def _save_config(cfg: DictConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")


def _command_line_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _apply_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """Apply key=value overrides to a saved config; group choices (data=..., model/cle=...) cannot change a run."""
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if key == "resume":
            continue
        current = OmegaConf.select(cfg, key, default=None)
        if override.is_delete() or "/" in key or isinstance(current, DictConfig):
            log.warning("resume: ignoring %s; a resumed run keeps the config groups it started with", override.input_line)
            continue
        OmegaConf.update(cfg, key, override.value(), force_add=override.is_add() or override.is_force_add())
    return cfg
