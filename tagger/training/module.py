"""LightningModule: loss, optimiser, schedule and dev metrics around the plain TaggerNetwork."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.nn import functional as F

from tagger.data.vocab import Vocabularies
from tagger.evaluation.metrics import ALL_TAGS, entity_label, f1_from_counts, span_counts
from tagger.model.decoding import entity_decoders
from tagger.model.network import build_network

NETWORK_INPUTS = ("words", "lengths", "form_index", "form_chars", "form_lengths")


def warmup_cosine(warmup_steps: int, total_steps: int, final_ratio: float) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to `final_ratio` of the peak learning rate."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class TaggerModule(pl.LightningModule):
    def __init__(
        self,
        model: dict,
        vocabs: dict,
        optimizer: Callable,
        warmup_steps: int,
        max_warmup_fraction: float,
        final_lr_ratio: float,
        label_smoothing: float,
        monitor: str,
    ) -> None:
        """`model` is the checked `model` config section and `vocabs` the vocabularies as a dict (both
        are saved as hyper-parameters, so a checkpoint rebuilds the module); `optimizer` builds the
        optimizer from the parameters. `monitor`, the dev metric that selects the checkpoint, is the
        one the progress bar shows: span F1 for NER, not the token accuracy beside it."""
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.vocabs = Vocabularies.from_dict(vocabs)
        self.network = build_network(model, self.vocabs)
        self.columns = list(self.vocabs.tags)
        self.together = [c for c in self.columns if c in ALL_TAGS] or self.columns  # what AllTags counts
        self.entity_decoders = entity_decoders(self.vocabs.tags)
        self.optimizer_factory = optimizer
        self._dev_counts: dict[str, Tensor] = {}

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.network(**{name: batch[name] for name in NETWORK_INPUTS})

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        logits = self(batch)
        loss = sum(
            F.cross_entropy(
                logits[c].flatten(0, 1), batch[f"tags.{c}"].flatten(), ignore_index=0, label_smoothing=self.hparams.label_smoothing
            )
            for c in self.columns
        )
        # per step every log_every_n_steps, and the epoch's mean at its end (even for runs shorter than that)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=int(batch["lengths"].sum()))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._dev_counts = {}

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        logits = self(batch)
        lengths = batch["lengths"]
        mask = torch.arange(lengths.max(), device=lengths.device)[None, :] < lengths[:, None]
        all_right = mask.clone()
        counts = {"words": mask.sum()}
        for column in self.columns:
            gold = batch[f"tags.{column}"]
            # a word without a target (an unannotated lemma `_`) counts as right, as CoNLL 2018 scores it
            right = ((logits[column].argmax(-1) == gold) | (gold == 0)) & mask
            counts[column] = right.sum()
            if column in self.together:
                all_right &= right
        counts["alltags"] = all_right.sum()
        for column, decoder in self.entity_decoders.items():
            counts[f"{column}.spans"] = self._span_counts(column, decoder(logits[column], batch["lengths"]), batch)
        for key, value in counts.items():
            self._dev_counts[key] = self._dev_counts.get(key, 0) + value

    def dev_metrics(self) -> list[str]:
        """The names of the dev metrics a validation logs: what `monitor` can select on."""
        return [f"dev/{name}" for name in self._accuracy_names()] + [
            name for column in self.entity_decoders for name in self._span_metric_names(column)]

    def _accuracy_names(self) -> list[str]:
        return self.columns + (["alltags"] if len(self.together) > 1 else [])

    @staticmethod
    def _span_metric_names(column: str) -> list[str]:
        label = entity_label(column).lower()
        return [f"dev/{label}_{metric}" for metric in ("precision", "recall", "f1")]

    def on_validation_epoch_end(self) -> None:
        counts = self._dev_counts
        if not counts:
            return
        words = self.all_gather(counts["words"]).sum().clamp(min=1).float()
        values = {f"dev/{name}": 100.0 * self.all_gather(counts[name]).sum().float() / words for name in self._accuracy_names()}
        for column in self.entity_decoders:
            correct, predicted, gold = self.all_gather(counts[f"{column}.spans"]).reshape(-1, 3).sum(0).tolist()
            values.update(zip(self._span_metric_names(column), f1_from_counts(correct, predicted, gold)))
        for name, value in values.items():
            self.log(name, value, prog_bar=name == self.hparams.monitor, rank_zero_only=True)

    def _span_counts(self, column: str, decoded: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """Correct, predicted and gold entity counts of a batch, from Viterbi-decoded tags.

        Gold tags unseen in train arrive as <unk> and count as O here; `tagger eval` scores the
        file's own tags.
        """
        itos = self.vocabs.tags[column].itos
        tags = ["O", "O", *itos[2:]]
        totals = [0, 0, 0]
        gold_ids = batch[f"tags.{column}"].tolist()
        for row, length in enumerate(batch["lengths"].tolist()):
            gold = [tags[i] for i in gold_ids[row][:length]]
            predicted = [itos[i] for i in decoded[row, :length].tolist()]
            totals = [a + b for a, b in zip(totals, span_counts(gold, predicted))]
        return torch.tensor(totals, device=decoded.device)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        total = int(self.trainer.estimated_stepping_batches)
        warmup = min(self.hparams.warmup_steps, int(self.hparams.max_warmup_fraction * total))
        schedule = warmup_cosine(warmup, total, self.hparams.final_lr_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
