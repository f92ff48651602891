"""Training callbacks: stop at the first non-finite loss, and make resumed runs continue exactly."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from tagger.errors import TaggerError


class NonFiniteLossError(TaggerError):
    """The loss became NaN or infinite: training diverged."""


class FiniteLossGuard(pl.Callback):
    """Stop training at the first NaN or infinite loss, naming the step.

    The check runs before backward, so the bad step never reaches the weights, and no checkpoint
    holds its result: checkpoints/last.ckpt stays the last good state to resume from (with a
    lower learning rate, say). Under DDP the ranks decide together, so none is left waiting.
    """

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if not trainer.strategy.reduce_boolean_decision(not finite, all=False):
            return
        saved = sorted({callback.last_model_path for callback in trainer.checkpoint_callbacks if callback.last_model_path})
        kept = f"the last good checkpoint is {saved[0]}" if saved else "no checkpoint had been saved yet"
        raise NonFiniteLossError(
            f"training stopped at step {trainer.global_step + 1} (epoch {trainer.current_epoch}, "
            f"batch {trainer.fit_loop.epoch_loop.batch_idx}): the loss is {loss.item()}; {kept}"
        )


class RandomStateCheckpoint(pl.Callback):
    """Keep the random generators' state in every checkpoint.

    Lightning restores weights, optimiser, schedule and data position, but not the generators
    behind dropout; with them, a run killed and resumed ends exactly where an uninterrupted run
    with the same seed does.
    """

    def state_dict(self) -> dict[str, Tensor | list[Tensor]]:
        return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def load_state_dict(self, state_dict: dict[str, Tensor | list[Tensor]]) -> None:
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
