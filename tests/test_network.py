"""The network: exact deduplication, padding that leaks nowhere, the shapes the heads promise."""

from __future__ import annotations

import pytest
import torch

from tagger.model.char_encoders import CharCNNEncoder, Highway
from tagger.model.network import TaggerNetwork
from tagger.model.residual_lstm import ResidualBiLSTM

CLES = {"gru": {"type": "gru", "char_dim": 8, "hidden_size": 6}, "cnn": {"type": "cnn", "char_dim": 8, "filters": 4, "kernel_sizes": [1, 2, 3], "highway_layers": 1}}


def _network(cle: str) -> TaggerNetwork:
    torch.manual_seed(0)
    config = {"word_dim": 10, "word_dropout": 0.2, "dropout": 0.3, "cle": CLES[cle], "encoder": {"hidden_size": 7, "layers": 3}}
    return TaggerNetwork(config, num_words=20, num_chars=15, tag_sizes={"upos": 5, "feats": 9}).eval()


def _batch():
    torch.manual_seed(1)
    lengths = torch.tensor([4, 2])
    words = torch.tensor([[3, 4, 3, 5], [4, 6, 0, 0]])
    # forms of every position: positions 0 and 2 share a form, and so do (0,1) and (1,0)
    forms = torch.tensor([[0, 1, 0, 2], [1, 3, 0, 0]])
    chars = torch.randint(2, 15, (4, 6))
    form_lengths = torch.tensor([6, 3, 5, 2])
    chars[torch.arange(6)[None, :] >= form_lengths[:, None]] = 0
    return words, lengths, forms, chars, form_lengths


@pytest.mark.parametrize("cle", ["gru", "cnn"])
def test_dedup_matches_undeduplicated_output(cle):
    network = _network(cle)
    words, lengths, forms, chars, form_lengths = _batch()
    deduplicated = network(words, lengths, forms, chars, form_lengths)
    # the same batch with one character row per position, nothing shared
    per_position = forms.flatten()
    undeduplicated = network(words, lengths, torch.arange(8).view(2, 4), chars[per_position], form_lengths[per_position])
    for column in ("upos", "feats"):
        mask = torch.arange(4)[None, :] < lengths[:, None]
        torch.testing.assert_close(deduplicated[column][mask], undeduplicated[column][mask])


@pytest.mark.parametrize("cle", ["gru", "cnn"])
def test_heads_give_one_distribution_per_word(cle):
    network = _network(cle)
    logits = network(*_batch())
    assert logits["upos"].shape == (2, 4, 5) and logits["feats"].shape == (2, 4, 9)


def test_padding_does_not_change_real_tokens():
    network = _network("gru")
    words, lengths, forms, chars, form_lengths = _batch()
    full = network(words, lengths, forms, chars, form_lengths)["upos"]
    alone = network(words[1:, :2], lengths[1:], forms[1:, :2], chars, form_lengths)["upos"]
    torch.testing.assert_close(full[1, :2], alone[0])


def test_cnn_ignores_characters_past_the_word_end():
    encoder = CharCNNEncoder(num_chars=10, char_dim=4, filters=3, kernel_sizes=(1, 2, 3, 4, 5), highway_layers=1).eval()
    chars = torch.tensor([[2, 3, 4, 0, 0], [2, 3, 4, 0, 0]])
    with torch.no_grad():
        encoder.embedding.weight[0] = 5.0  # a padding vector that would win the max-pool if it leaked
    lengths = torch.tensor([3, 3])
    out = encoder(chars, lengths)
    torch.testing.assert_close(out[0], encoder(chars[:1, :3], lengths[:1])[0])


def test_highway_starts_close_to_identity():
    torch.manual_seed(0)
    layer = Highway(16)
    x = torch.randn(100, 16)
    assert (layer(x) - x).abs().mean() < 0.5 * x.abs().mean()


def test_lstm_initialisation_has_forget_bias_one_and_orthogonal_recurrence():
    encoder = ResidualBiLSTM(6, 4, layers=2, dropout=0.5)
    lstm = encoder.lstms[0]
    assert torch.all(lstm.bias_ih_l0[4:8] == 1.0) and torch.all(lstm.bias_ih_l0[:4] == 0.0)
    gate = lstm.weight_hh_l0[:4]
    torch.testing.assert_close(gate @ gate.T, torch.eye(4), atol=1e-5, rtol=0)


def test_word_dropout_only_in_training():
    network = _network("gru")
    words = torch.randint(2, 20, (50, 40))
    network.train()
    torch.manual_seed(0)
    dropped = network.words.embedding.weight[1]
    embedded = network.words(words)
    share = (embedded == dropped).all(-1).float().mean()
    assert 0.1 < share < 0.3
    network.eval()
    assert not (network.words(words) == dropped).all(-1).any()
