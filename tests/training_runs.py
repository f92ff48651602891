"""Tiny `tagger train` runs in a subprocess, started as a user starts them (kill, resume, DDP, NaN tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLE_DEV, SAMPLE_TRAIN

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

# A few seconds per epoch on one CPU core; a checkpoint every 5 steps (an epoch is ~12).
TINY_RUN = [
    "data=sample",
    f"data.train={SAMPLE_TRAIN}",
    f"data.dev={SAMPLE_DEV}",
    "data.test=null",
    "model.word_dim=32",
    "model.encoder.hidden_size=32",
    "model.cle.char_dim=16",
    "model.cle.hidden_size=16",
    "threads=1",
    "segmenter.learn=false",
    "schedule.warmup_steps=10",
    "optimizer.lr=5e-3",
    "callbacks.step_checkpoint.every_n_train_steps=5",
    "trainer.enable_progress_bar=false",
    "~callbacks.progress_bar",
    "trainer.enable_model_summary=false",
]


def train_command(run_dir: Path, *overrides: str, python: list[str] | None = None) -> list[str]:
    """`tagger train` with the tiny settings, writing into `run_dir`; `python` replaces `python -m tagger.cli`."""
    return [*(python or [sys.executable, "-m", "tagger.cli"]), "train", *TINY_RUN, f"hydra.run.dir={run_dir}", *overrides]


def run(command: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def dev_scores(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "scores.json").read_text())["dev"]
