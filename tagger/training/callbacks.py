"""Training callbacks: stop at the first non-finite loss, make resumed runs continue exactly, plot the curves."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor

from tagger.atomic_file import atomic_write
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


class TrainingCurves(pl.Callback):
    """Plot the training loss, the dev scores and the learning rate per epoch into a PNG (RUN_DIR/curves.png),
    redrawn after every validation, so a run in progress shows its curves too.

    The loss of an epoch is its mean over words, as the logs' `train/loss_epoch`; the learning rate
    is the one at the epoch's end. The history travels in the checkpoints: a resumed run's plot
    shows every epoch. Drawn with matplotlib's Figure alone (no pyplot, no display): it works
    headless and leaves the process's matplotlib backend as it was.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.epochs: list[dict[str, float]] = []
        self._loss_sum = 0.0
        self._words = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int) -> None:
        words = int(batch["lengths"].sum())
        self._loss_sum += float(outputs["loss"]) * words
        self._words += words

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        dev = {name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("dev/")}
        loss = self._loss_sum / self._words if self._words else float("nan")
        self.epochs.append({"epoch": trainer.current_epoch + 1, "loss": loss,
                            "lr": trainer.optimizers[0].param_groups[0]["lr"], **dev})
        self._loss_sum, self._words = 0.0, 0
        self.draw(monitor=getattr(pl_module.hparams, "monitor", None))

    def draw(self, monitor: str | None = None) -> None:
        """Write the plot of `self.epochs`; `monitor`, the metric that selects the model, is drawn bold."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        epochs = [row["epoch"] for row in self.epochs]
        figure = Figure(figsize=(7, 9), layout="constrained")
        loss, dev, rate = figure.subplots(3, 1, sharex=True)
        loss.plot(epochs, [row["loss"] for row in self.epochs], marker=".")
        loss.set_ylabel("train loss")
        for name in sorted({key for row in self.epochs for key in row if key.startswith("dev/")}):
            values = [row.get(name, float("nan")) for row in self.epochs]
            dev.plot(epochs, values, marker=".", label=name, linewidth=2.5 if name == monitor else 1.0)
        dev.set_ylabel("dev score")
        dev.legend(fontsize="small")
        rate.plot(epochs, [row["lr"] for row in self.epochs], marker=".")
        rate.set_ylabel("learning rate")
        rate.set_xlabel("epoch")
        rate.xaxis.set_major_locator(MaxNLocator(integer=True))
        with atomic_write(self.path) as temporary:
            figure.savefig(temporary, format="png", dpi=100)

    def state_dict(self) -> dict:
        return {"epochs": self.epochs, "loss_sum": self._loss_sum, "words": self._words}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epochs = list(state_dict["epochs"])
        self._loss_sum, self._words = state_dict["loss_sum"], state_dict["words"]
