"""Character-level word embeddings (CLE): one vector per word form, from its characters."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CharGRUEncoder(nn.Module):
    """Bidirectional GRU over a word's characters; the two final states, concatenated."""

    def __init__(self, num_chars: int, char_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.gru = nn.GRU(char_dim, hidden_size, batch_first=True, bidirectional=True)
        self.output_dim = 2 * hidden_size
        for name, param in self.gru.named_parameters():
            if "weight_hh" in name:
                for gate in param.chunk(3, 0):
                    nn.init.orthogonal_(gate)

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        embedded = self.embedding(chars)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, final = self.gru(packed)  # [2, n, hidden]
        return torch.cat([final[0], final[1]], dim=-1)


class Highway(nn.Module):
    """y = T * relu(W_H x) + (1 - T) * x, with the gate bias negative so it starts near identity."""

    def __init__(self, dim: int, gate_bias: float = -2.0) -> None:
        super().__init__()
        self.transform = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, dim)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.gate(x))
        return gate * torch.relu(self.transform(x)) + (1 - gate) * x


class CharCNNEncoder(nn.Module):
    """Convolutions of several widths, each max-pooled over the word, then highway layers."""

    def __init__(
        self,
        num_chars: int,
        char_dim: int,
        filters: int,
        kernel_sizes: tuple[int, ...],
        highway_layers: int,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, filters, k, padding=k - 1) for k in kernel_sizes)
        self.output_dim = filters * len(kernel_sizes)
        self.highways = nn.Sequential(*(Highway(self.output_dim) for _ in range(highway_layers)))

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        inside = (torch.arange(chars.shape[1], device=chars.device)[None, :] < lengths[:, None]).unsqueeze(2)
        # zero past the word end, exactly like the convolution's own padding on the left
        embedded = (self.embedding(chars) * inside).transpose(1, 2)  # [n, dim, len]
        pooled = []
        for conv in self.convs:
            features = torch.relu(conv(embedded))  # [n, filters, len + k - 1]
            # windows that overlap the word pass through zero padding; mask positions past the end
            width = features.shape[2]
            valid = torch.arange(width, device=chars.device)[None, :] < (lengths[:, None] + conv.kernel_size[0] - 1)
            pooled.append(features.masked_fill(~valid[:, None, :], 0.0).amax(dim=2))
        return self.highways(torch.cat(pooled, dim=1))


def build_char_encoder(config: dict, num_chars: int) -> nn.Module:
    """The encoder named by `config['type']`; the remaining keys are its arguments."""
    options = {key: value for key, value in config.items() if key != "type"}
    kind = config.get("type")
    if kind == "gru":
        return CharGRUEncoder(num_chars, **options)
    if kind == "cnn":
        options["kernel_sizes"] = tuple(options["kernel_sizes"])
        return CharCNNEncoder(num_chars, **options)
    raise ValueError(f"unknown character encoder type {kind!r}: use 'gru' or 'cnn'")
