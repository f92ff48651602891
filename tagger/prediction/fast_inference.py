"""The network as inference runs it: bfloat16 where the device computes it natively.

On a GPU the trained network runs as training ran it under `trainer=gpu`: its float32 weights
copied to the device, under bfloat16 autocast where the GPU has bfloat16 (float32 otherwise, or
when asked). On a CPU it runs as below. Which precision runs, and what else it decides, is
`tagger.prediction.precision`.

The BiLSTM encoder is nearly all of the cost of tagging. PyTorch hands only *padded* (not packed)
LSTM input to oneDNN, whose bfloat16 kernels (AVX512-BF16/AMX) run the encoder 3-4 times faster
than the packed float32 path training uses; the network is cast but for its character encoder
(its tags on UD English-EWT test stay within 0.05 point of float32), and batches are padded to
a few shapes (`bucket`), so the kernels' per-shape state stays bounded. `UnpackedResidualBiLSTM`
gives the packed result on padded input: the forward direction reads each sentence from its start, so padding
after its end never reaches a real token; the backward direction runs forward over every
sentence reversed *within its length* (padding stays at the end), and its output is reversed
back. In float32 the packed path is as fast, so the trained network serves unchanged.

`int8` (CPU, asked for only) is PyTorch's dynamic quantization of the LSTMs, GRU and linear
layers: on a CPU without native bfloat16 (an AMD EPYC here) it runs the encoder about 1.45x
faster than float32 at the same en_ewt test scores (UPOS 95.79 vs 95.78). It is not the default:
the activations' scale is computed per batch, so a sentence's tags can depend on the sentences
batched with it.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import Tensor, nn

from tagger.model.network import TaggerNetwork
from tagger.model.residual_lstm import ResidualBiLSTM

INT8 = torch.qint8  # the `dtype` that stands for dynamic int8 quantization (activations stay float32)
# oneDNN's bfloat16 LSTM takes ~4.5 ms per 1000 tokens on a batch of 16k sentences (Xeon with AMX);
# most other batch sizes take 6-25 ms, an odd one 4-5 times as long, so batches are padded up.
BATCH_MULTIPLE = 16


def bucket(size: int, multiple: int = 1) -> int:
    """`size` rounded up to a multiple of `multiple` and to one of 8 sizes a doubling (at most 1/8 more).

    bfloat16 kernels keep state per input shape: oneDNN a compiled LSTM per batch shape, and the
    bfloat16 matrix product some per row count that no cache setting bounds (1,600 row counts
    through one `Linear` grew a process by 740 MB). Padded to these sizes, a stream of batches
    meets a few hundred shapes, not thousands, and padding changes no real row's result.
    """
    step = max(multiple, 1 << max(0, size.bit_length() - 4))
    return -(-size // step) * step


def reversal_index(lengths: Tensor, width: int) -> Tensor:
    """[batch * width]: the flat position each step of the padded batch takes when every sentence
    is reversed within its length (padding stays). Reversing twice is the identity."""
    positions = torch.arange(width)
    lengths = lengths.cpu()[:, None]
    reversed_positions = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return (reversed_positions + width * torch.arange(len(lengths))[:, None]).flatten()


def _direction(lstm: nn.LSTM, suffix: str) -> nn.LSTM:
    """One direction of a one-layer bidirectional LSTM as a unidirectional LSTM with the same weights."""
    single = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
    single.load_state_dict({f"{name}_l0": getattr(lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    return single


class UnpackedBiLSTM(nn.Module):
    """A one-layer BiLSTM on padded input whose outputs at real positions equal the packed ones."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.forward_lstm = _direction(lstm, "")
        self.backward_lstm = _direction(lstm, "_reverse")

    def forward(self, x: Tensor, reversal: Tensor) -> Tensor:
        forward, _ = self.forward_lstm(x)
        backward, _ = self.backward_lstm(_take(x, reversal))
        return torch.cat([forward, _take(backward, reversal)], dim=-1)


def _take(x: Tensor, flat_index: Tensor) -> Tensor:
    """Rows of [batch, time, dim] by flat position: `index_select` is 20-40x faster than `gather` here."""
    return x.reshape(-1, x.shape[2]).index_select(0, flat_index).view(x.shape)


class UnpackedResidualBiLSTM(nn.Module):
    """`ResidualBiLSTM` at inference, on padded input (see the module docstring); values at padded positions are junk."""

    def __init__(self, encoder: ResidualBiLSTM) -> None:
        super().__init__()
        self.output_dim = encoder.output_dim
        self.lstms = nn.ModuleList(UnpackedBiLSTM(lstm) for lstm in encoder.lstms)
        self.norms = copy.deepcopy(encoder.norms)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        batch, width = x.shape[:2]
        padded_batch, padded_width = bucket(batch, BATCH_MULTIPLE), bucket(width)
        if (padded_batch, padded_width) != (batch, width):  # padding after a sentence's end never reaches it
            x = torch.cat([x, x.new_zeros(batch, padded_width - width, x.shape[2])], dim=1)
            x = torch.cat([x, x.new_zeros(padded_batch - batch, *x.shape[1:])])
            lengths = torch.cat([lengths, lengths.new_zeros(padded_batch - batch)])
        reversal = reversal_index(lengths, x.shape[1]).to(x.device)
        h = self.norms[0](self.lstms[0](x, reversal))
        for lstm, norm in zip(self.lstms[1:], self.norms[1:]):
            h = norm(h + lstm(h, reversal))
        return h[:batch, :width]


class BucketedLinear(nn.Linear):
    """A `Linear` that runs on a `bucket` of rows (the extra ones zero, their results dropped): see `bucket`."""

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, x.shape[-1])
        extra = bucket(len(rows), 64) - len(rows)
        if extra:
            rows = torch.cat([rows, rows.new_zeros(extra, rows.shape[1])])
        return super().forward(rows)[: len(rows) - extra].view(*x.shape[:-1], self.out_features)

    @classmethod
    def like(cls, linear: nn.Linear) -> BucketedLinear:
        bucketed = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        bucketed.load_state_dict(linear.state_dict())
        return bucketed


def inference_network(network: TaggerNetwork, dtype: torch.dtype, device: torch.device = torch.device("cpu")) -> TaggerNetwork:
    """The network to predict with on `device`. On the CPU: `network` itself in float32, else a copy with
    the unpacked encoder, cast to `dtype`. On a GPU: a float32 copy there (`Precision.forward_context` adds autocast)."""
    if device.type != "cpu":
        return copy.deepcopy(network).to(device).eval()
    if dtype == torch.float32:
        return network.eval()
    if dtype == INT8:
        with warnings.catch_warnings():  # torch 2.13 points to torchao for new code; the API works as measured here
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
            return torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(network).eval(), {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8
            ).eval()
    fast = copy.deepcopy(network).eval()
    fast.encoder = UnpackedResidualBiLSTM(network.encoder)
    fast.heads = nn.ModuleDict({column: BucketedLinear.like(head) for column, head in network.heads.items()})
    fast = fast.to(dtype).eval()
    # The character encoder stays float32: it runs only for forms the caches lack, and its packed GRU
    # multiplies a new row count at every step, which in bfloat16 keeps state per count (see `bucket`).
    # Computed forms then match the model file's stored ones, computed in float32 and rounded alike.
    fast.cle = copy.deepcopy(network.cle).eval()
    return fast

