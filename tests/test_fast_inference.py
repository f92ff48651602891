"""The fast inference path (unpacked encoder, bfloat16, the vocabulary's CLE table) tags like the plain one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import SAMPLE_DEV
from tagger.data.conllu_io import Sentence, read_conllu
from tagger.errors import TaggerError
from tagger.inference.shipped import resolve_model
from tagger.inference.tagger import Tagger
from tagger.prediction import fast_inference, precision
from tagger.prediction.fast_inference import UnpackedResidualBiLSTM
from tagger.prediction.precision import Precision
from tagger.model.model_file import FORM_TABLE, load_model
from tagger.prediction.predictor import Predictor
from tagger.model.residual_lstm import ResidualBiLSTM


@pytest.fixture(scope="module")
def bundle(tiny_model):
    return load_model(tiny_model)


def _tagged(predictor: Predictor) -> list[list[str]]:
    sentences = predictor.predict(read_conllu(SAMPLE_DEV))
    return [["\t".join(row[2:6]) for row in sentence.rows] for sentence in sentences]  # lemma, upos, xpos, feats


@pytest.mark.parametrize("batch", [5, 6], ids=["odd-batch", "even-batch"])
def test_the_unpacked_encoder_equals_the_packed_one_at_every_real_position(batch):
    torch.manual_seed(0)
    packed = ResidualBiLSTM(input_dim=12, hidden_size=8, layers=3, dropout=0.5).eval()
    lengths = torch.randint(1, 9, (batch,))
    x = torch.randn(batch, int(lengths.max()), 12)
    real = torch.arange(x.shape[1]) < lengths[:, None]
    with torch.inference_mode():
        expected, got = packed(x, lengths), UnpackedResidualBiLSTM(packed)(x, lengths)
    torch.testing.assert_close(got[real], expected[real])


def test_the_vocabulary_table_changes_no_prediction_and_fills_once(bundle):
    cached, uncached = Predictor(bundle, precision="float32"), Predictor(bundle, precision="float32", cache_size=0, form_table=False)
    first = _tagged(cached)
    filled, misses = int(cached.cache.filled.sum()), cached.cache.misses
    assert first == _tagged(uncached) == _tagged(cached)
    assert filled > 0 and cached.cache.misses == misses  # the second pass computes no CLE


def test_the_model_file_stores_the_cle_of_every_vocabulary_word(bundle):
    """Each row recomputed alone, its character ids built by hand: <bow>, the characters (unseen ones <unk>,
    a word longer than the limit clipped to its first and last half-limit characters), <eow>."""
    table, words, chars, limit = bundle.form_table, bundle.vocabs.words, bundle.vocabs.chars, bundle.max_word_chars
    assert table is not None and table.shape == (len(words), bundle.network.cle.output_dim)
    assert not table[:2].any()  # <pad>, <unk>
    assert sum(len(form) > limit for form in words.itos) > 0  # the sample's URLs: clipping is exercised
    bow, eow = chars.itos.index("<bow>"), chars.itos.index("<eow>")
    for row, form in enumerate(words.itos[2:], start=2):
        if len(form) > limit:
            form = form[: limit // 2] + form[len(form) - limit // 2 :]
        ids = [bow] + [chars.itos.index(char) if char in chars.itos else 1 for char in form] + [eow]
        with torch.inference_mode():
            alone = bundle.network.cle(torch.tensor([ids]), torch.tensor([len(ids)]))[0]
        torch.testing.assert_close(table[row], alone, msg=f"row {row}: {form!r}")


def test_with_the_stored_table_known_words_never_reach_the_character_encoder(bundle):
    predictor = Predictor(bundle, precision="float32")
    sentences = read_conllu(SAMPLE_DEV)
    known = {form for sentence in sentences for form in sentence.forms if form in bundle.vocabs.words}
    unknown = {form for sentence in sentences for form in sentence.forms} - known
    predictor.predict(sentences)
    assert known and predictor.cache.misses == len(unknown)
    predictor.cache.clear()  # clearing forgets computed forms, not the stored table
    predictor.predict(read_conllu(SAMPLE_DEV))
    assert predictor.cache.misses == len(unknown)


def test_a_model_file_without_the_table_loads_and_tags_the_same(bundle, tiny_model, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(tiny_model), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(tiny_model))
    del tensors[FORM_TABLE]
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=metadata)
    old = load_model(tmp_path / "old.safetensors")
    assert old.form_table is None
    assert _tagged(Predictor(old, precision="float32")) == _tagged(Predictor(bundle, precision="float32"))


def test_bfloat16_tags_the_sample_like_float32(bundle):
    """Within rounding: at most 1 word in 100 may get another tag (on en_ewt test, UPOS moves by < 0.1)."""
    plain, fast = _tagged(Predictor(bundle, precision="float32")), _tagged(Predictor(bundle, precision="bfloat16"))
    words = [(a, b) for sentence_a, sentence_b in zip(plain, fast) for a, b in zip(sentence_a, sentence_b)]
    assert sum(a != b for a, b in words) <= len(words) / 100


def test_the_float32_predictor_runs_the_trained_network_itself(bundle):
    assert Predictor(bundle, precision="float32").network is bundle.network


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(precision, "native_bfloat16", lambda: False)
    assert Precision.resolve("auto").dtype == torch.float32
    monkeypatch.setattr(precision, "native_bfloat16", lambda: True)
    assert Precision.resolve("auto").dtype == torch.bfloat16
    assert Precision.resolve("float32").dtype == torch.float32  # asked for: whatever the CPU has


def test_an_unknown_precision_is_a_tagger_error_naming_the_choices(bundle):
    with pytest.raises(TaggerError, match=r"^unknown precision 'int4': use auto, float32, bfloat16, int8$"):
        Precision.resolve("int4")
    with pytest.raises(TaggerError, match=r"^unknown precision 'fp16'"):
        Tagger(bundle, precision="fp16")


def test_int8_is_asked_for_and_tags_like_float32_on_the_sample(bundle):
    assert Precision.resolve("int8").dtype == torch.qint8 and Precision.resolve("int8").name == "int8"
    with pytest.raises(TaggerError, match="CPU only"):
        Precision.resolve("int8", torch.device("cuda"))
    int8, exact = Predictor(bundle, precision="int8"), Predictor(bundle, precision="float32")
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.network.modules())
    sentences = [s.forms for s in read_conllu(SAMPLE_DEV)][:200]
    ours = [s.column("upos") for s in int8.predict([Sentence.from_forms(f) for f in sentences])]
    theirs = [s.column("upos") for s in exact.predict([Sentence.from_forms(f) for f in sentences])]
    pairs = [(a, b) for x, y in zip(ours, theirs) for a, b in zip(x, y)]
    assert sum(a == b for a, b in pairs) / len(pairs) > 0.98


# -- bounded per-shape state ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def english():
    return load_model(resolve_model("en_ewt"))


def test_bucketed_sizes_are_few_and_at_most_an_eighth_larger():
    for multiple in (1, 16):
        buckets = [fast_inference.bucket(size, multiple) for size in range(1, 4097)]
        assert all(b % multiple == 0 and size <= b <= max(size + multiple - 1, size * 9 // 8) for size, b in enumerate(buckets, 1))
        assert len(set(buckets)) <= 8 * 12 + 8  # 8 a doubling above 8 (12 doublings to 4096), the first 8 exact


def test_bfloat16_batches_reach_the_kernels_in_few_shapes_and_no_tag_depends_on_its_batch(english, monkeypatch):
    random = torch.Generator().manual_seed(0)
    forms = [form for sentence in read_conllu(SAMPLE_DEV) for form in sentence.forms]
    lengths = torch.randint(1, 120, (400,), generator=random).tolist()
    sentences = [Sentence.from_forms(forms[i : i + n]) for i, n in enumerate(lengths)]
    predictor = Predictor(english, batch_tokens=200, precision="bfloat16")
    batch_shapes = {(len(batch), max(lengths[i] for i in batch)) for batch in predictor.batches(sentences)}
    lstm_shapes, head_rows = set(), set()
    for lstm in predictor.network.encoder.lstms:
        lstm.forward_lstm.register_forward_pre_hook(lambda _, inputs: lstm_shapes.add(tuple(inputs[0].shape[:2])))
    linear = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: head_rows.add(x.shape[0]) or linear(self, x))
    batched = [sentence.column("upos") + sentence.column("lemma") for sentence in predictor.predict(sentences)]
    assert len(batch_shapes) > 60 and len(lstm_shapes) <= len(batch_shapes) // 2 and len(head_rows) <= len(batch_shapes) // 2
    some = sentences[::4]  # padding reaches no real row: each tags alone as it did among others
    alone = [s.column("upos") + s.column("lemma") for s in (predictor.predict([Sentence.from_forms(s.forms)])[0] for s in some)]
    assert batched[::4] == alone


def test_importing_tagger_caps_the_kernels_caches_unless_the_environment_sets_them():
    caches = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
    code = f"import os, tagger; print(*(os.environ[name] for name in {caches}))"
    environment = {name: value for name, value in os.environ.items() if name not in caches}
    assert subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True).stdout == "16 64\n"
    environment.update(dict.fromkeys(caches, "8"))
    assert subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True).stdout == "8 8\n"
