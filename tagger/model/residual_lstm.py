"""Stacked BiLSTM encoder with residual connections and layer normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SharedDropout(nn.Module):
    """Variational dropout: one mask per sequence, shared by all of its time steps."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:  # x: [batch, time, dim]
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


def init_lstm(lstm: nn.LSTM) -> None:
    """Orthogonal recurrent matrices (per gate) and forget-gate bias 1."""
    for name, param in lstm.named_parameters():
        if "weight_hh" in name:
            for gate in param.chunk(4, 0):
                nn.init.orthogonal_(gate)
        elif "weight_ih" in name:
            nn.init.xavier_uniform_(param)
        elif "bias_ih" in name:
            hidden = param.shape[0] // 4
            nn.init.zeros_(param)
            param.data[hidden : 2 * hidden] = 1.0  # gate order: input, forget, cell, output
        elif "bias_hh" in name:
            nn.init.zeros_(param)


class ResidualBiLSTM(nn.Module):
    """`layers` BiLSTMs; from the second on, h_l = LayerNorm(h_{l-1} + Dropout(BiLSTM_l(h_{l-1}))).

    Post-LN keeps every layer's output normalised for the heads. Directions are concatenated
    (output 2*hidden). Padded positions are packed away so they cost nothing and never leak
    into the states of real tokens.
    """

    def __init__(self, input_dim: int, hidden_size: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.output_dim = 2 * hidden_size
        dims = [input_dim] + [self.output_dim] * (layers - 1)
        self.lstms = nn.ModuleList(nn.LSTM(d, hidden_size, batch_first=True, bidirectional=True) for d in dims)
        self.norms = nn.ModuleList(nn.LayerNorm(self.output_dim) for _ in range(layers))
        self.dropout = SharedDropout(dropout)
        for lstm in self.lstms:
            init_lstm(lstm)

    def _run(self, lstm: nn.LSTM, x: Tensor, lengths: Tensor) -> Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = lstm(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return output

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        h = self.norms[0](self._run(self.lstms[0], x, lengths))
        for lstm, norm in zip(self.lstms[1:], self.norms[1:]):
            h = norm(h + self.dropout(self._run(lstm, h, lengths)))
        return h
