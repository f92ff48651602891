"""Tagger.load and Tagger.tag: loading model files safely, tagging every input kind, the outputs."""

from __future__ import annotations

import os
import sys

import itertools
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import SAMPLE_DEV
from tagger import Tagger
from tagger.errors import ModelFileError, TaggerError
from tagger.inference import shipped
from tagger.inference.readers import read_raw
from tagger.inference.tagger import model_language
from tagger.model.model_file import load_model, save_model

PREDICTED = {2: "lemma", 3: "upos", 4: "xpos", 5: "feats"}  # CoNLL-U field index -> column the sample model predicts


@pytest.fixture(scope="module")
def tagger(tiny_model) -> Tagger:
    return Tagger.load(tiny_model, language="en")


# -- loading ----------------------------------------------------------------------------------------


def test_a_shipped_model_loads_by_name(tiny_model, tmp_path, monkeypatch):
    shutil.copy(tiny_model, tmp_path / "tiny_en.safetensors")
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    assert shipped.shipped_models() == ["tiny_en"]
    assert Tagger.load("tiny_en").columns == ["upos", "xpos", "feats", "lemma"]


def test_an_unknown_name_lists_the_shipped_models(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="no such model file.*shipped: none"):
        Tagger.load("xx_nothing")


def _metadata(path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data, meta: (b"\x00garbage" * 100, None), "not a tagger model file, or a truncated or corrupt one"),
        (lambda data, meta: (data[: len(data) // 2], None), "not a tagger model file, or a truncated or corrupt one"),
        (lambda data, meta: (None, {k: v for k, v in meta.items() if k != "format"}), "not a tagger model"),
        (lambda data, meta: (None, {**meta, "format_version": "99"}), "newer than this tagger reads"),
        (lambda data, meta: (None, {**meta, "vocabs": "{}"}), "corrupt model file"),
    ],
    ids=["random-bytes", "truncated", "foreign-safetensors", "newer-version", "broken-metadata"],
)
def test_damaged_or_foreign_model_files_give_a_clear_error(tiny_model, tmp_path, damage, message):
    path = tmp_path / "model.safetensors"
    data, metadata = damage(tiny_model.read_bytes(), _metadata(tiny_model))
    if data is not None:
        path.write_bytes(data)
    else:
        save_file(load_file(str(tiny_model)), str(path), metadata=metadata)
    with pytest.raises(ModelFileError, match=message) as error:
        Tagger.load(path)
    assert str(path) in str(error.value)


def test_float16_weights_load_as_float32_and_tag_alike(tiny_model, tmp_path, tagger):
    half = tmp_path / "half.safetensors"
    original = load_model(tiny_model)
    save_model(half, original.network, original.vocabs, original.provenance, weights_dtype=torch.float16)
    assert half.stat().st_size < 0.6 * tiny_model.stat().st_size
    assert {t.dtype for t in load_file(str(half)).values()} == {torch.float16}
    bundle = load_model(half)
    assert {p.dtype for p in bundle.network.parameters()} == {torch.float32}
    text = SAMPLE_DEV.read_text()
    upos = [t.upos for s in tagger.tag(text) for t in s.tokens]
    upos_half = [t.upos for s in Tagger(bundle).tag(text) for t in s.tokens]
    assert sum(a == b for a, b in zip(upos, upos_half)) >= 0.99 * len(upos)


# -- input kinds ------------------------------------------------------------------------------------


def test_raw_text_gives_tokens_with_offsets_and_every_predicted_column(tagger):
    text = "I don't like it. The e-mail from john@example.com came at 10:30!"
    document = tagger.tag(text)
    assert [s.text for s in document] == ["I don't like it.", "The e-mail from john@example.com came at 10:30!"]
    tokens = document[0].tokens
    assert [t.form for t in tokens] == ["I", "do", "n't", "like", "it", "."]
    assert all(text[t.start : t.end] == t.form for s in document for t in s.tokens)
    assert set(tokens[0].tags) == {"upos", "xpos", "feats", "lemma"}
    assert tokens[5].upos == "PUNCT" and tokens[5]["upos"] == "PUNCT"
    assert tokens[0].probabilities is None


def test_raw_text_conllu_has_text_comments_multiword_ranges_and_space_after(tagger):
    conllu = tagger.tag("Don't stop.\n\nGo (now).").to_conllu()
    first, second = conllu.split("\n\n")[:2]
    assert first.splitlines()[:3] == ["# newpar", "# sent_id = 1", "# text = Don't stop."]
    rows = [line.split("\t") for line in first.splitlines()[3:]]
    assert [(r[0], r[1], r[9]) for r in rows] == [("1-2", "Don't", "_"), ("1", "Do", "_"), ("2", "n't", "_"),
                                                  ("3", "stop", "SpaceAfter=No"), ("4", ".", "_")]
    assert all(r[3] != "_" for r in rows if "-" not in r[0]) and rows[0][3] == "_"
    assert "# text = Go (now)." in second
    assert [line.split("\t")[9] for line in second.splitlines()[3:]] == ["_", "SpaceAfter=No", "SpaceAfter=No", "SpaceAfter=No", "_"]


def test_token_lists_are_tagged_as_given(tagger):
    document = tagger.tag([["Hello", "world", "!"], ["Do", "n't"]])
    assert [[t.form for t in s.tokens] for s in document] == [["Hello", "world", "!"], ["Do", "n't"]]
    assert all(t.start is None for s in document for t in s.tokens)


def test_malformed_token_lists_are_refused(tagger):
    with pytest.raises(TaggerError, match="pre-tokenised"):
        tagger.tag([["fine", ""]])
    with pytest.raises(TaggerError, match="pre-tokenised"):
        tagger.tag([["tab\there"]])


def test_conllu_input_changes_nothing_but_the_predicted_columns(tagger):
    original = SAMPLE_DEV.read_text(encoding="utf-8")
    tagged = tagger.tag(original).to_conllu()  # recognised as CoNLL-U
    assert _without_predicted_columns(tagged) == _without_predicted_columns(original)
    original_words = [line.split("\t") for line in original.splitlines() if line[:1].isdigit()]
    tagged_words = [line.split("\t") for line in tagged.splitlines() if line[:1].isdigit()]
    changed = sum(a[3] != b[3] for a, b in zip(original_words, tagged_words) if a[0].isdigit())
    assert changed > 0  # the gold tags were really replaced by predictions, not kept


def _without_predicted_columns(conllu: str) -> list[str]:
    """Every line, with the predicted fields of word lines (integer IDs) blanked out."""
    lines = []
    for line in conllu.splitlines():
        fields = line.split("\t")
        if len(fields) == 10 and fields[0].isdigit():
            fields = ["*" if i in PREDICTED else value for i, value in enumerate(fields)]
        lines.append("\t".join(fields))
    return lines


def test_conllu_text_keeps_comments_ranges_empty_nodes_and_other_columns(tagger):
    text = (
        "# sent_id = a\n# text = I'm here\n# custom = kept\n"
        "1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
        "1\tI\tI\tX\tX\tFoo=Bar\t3\tnsubj\t3:nsubj\tNote=x\n"
        "2\t'm\tbe\tX\tX\t_\t3\tcop\t3:cop\t_\n"
        "2.1\tghost\tghost\tNOUN\tNN\t_\t_\t_\t3:obj\t_\n"
        "3\there\there\tX\tX\t_\t0\troot\t0:root\tSpaceAfter=No|Other=1\n\n"
    )
    tagged = tagger.tag(text, input_format="conllu").to_conllu()
    assert _without_predicted_columns(tagged) == _without_predicted_columns(text)
    assert "2.1\tghost\tghost\tNOUN\tNN\t_\t_\t_\t3:obj\t_" in tagged.splitlines()


def test_auto_detection_does_not_take_hash_headed_text_for_conllu(tagger):
    document = tagger.tag("# Heading\nSome text here.")
    assert document[0].text == "# Heading Some text here."  # raw text: one sentence (# text folds the line break)


def test_an_unknown_input_format_is_an_error(tagger):
    with pytest.raises(TaggerError, match="unknown input format"):
        tagger.tag("text", input_format="xml")


# -- outputs ----------------------------------------------------------------------------------------


def test_probabilities_are_given_on_request_for_every_column(tagger):
    tokens = tagger.tag("Probabilities, please.", probabilities=True)[0].tokens
    assert all(set(t.probabilities) == {"upos", "xpos", "feats", "lemma"} for t in tokens)
    assert all(0.0 < p <= 1.0 for t in tokens for p in t.probabilities.values())


def test_json_holds_text_tokens_offsets_tags_and_multiword_tokens(tagger):
    data = json.loads(tagger.tag("It's fine.", probabilities=True).to_json())
    sentence = data["sentences"][0]
    assert sentence["text"] == "It's fine."
    assert [(t["form"], t["start"], t["end"]) for t in sentence["tokens"]] == [("It", 0, 2), ("'s", 2, 4), ("fine", 5, 9), (".", 9, 10)]
    assert {"id", "form", "upos", "xpos", "feats", "probabilities"} <= set(sentence["tokens"][0])
    assert sentence["multiword_tokens"] == [{"id": "1-2", "form": "It's", "start": 0, "end": 4}]
    assert "entities" not in sentence  # a POS model tags no entity column
    assert tagger.tag("It's fine.")[0].entities == []


def test_tsv_has_the_id_and_form_then_each_predicted_column(tagger):
    tsv = tagger.tag([["Hi", "."]])[0].to_tsv()
    rows = [line.split("\t") for line in tsv.splitlines() if line]
    assert [r[:2] for r in rows] == [["1", "Hi"], ["2", "."]] and all(len(r) == 6 for r in rows) and tsv.endswith("\n\n")


# -- speed machinery gives the same answers ------------------------------------------------------------


def test_the_form_cache_is_used_and_changes_no_prediction(tiny_model):
    """In float32: in bfloat16 the stored table (computed in float32) rounds unlike a CLE computed in bfloat16."""
    text = SAMPLE_DEV.read_text()
    cached = Tagger.load(tiny_model, cache_size=100_000, precision="float32")
    uncached = Tagger.load(tiny_model, cache_size=0, form_table=False, precision="float32")
    first = cached.tag(text).to_conllu()
    misses = cached.cache.misses
    assert cached.tag(text).to_conllu() == first == uncached.tag(text).to_conllu()
    assert cached.cache.misses == misses and cached.cache.hit_rate > 0.5  # the second pass is all hits
    assert uncached.cache.hit_rate == 0.0


def test_a_small_cache_stays_within_its_capacity(tiny_model):
    tagger = Tagger.load(tiny_model, cache_size=50)
    tagger.tag(SAMPLE_DEV.read_text())
    assert len(tagger.cache.vectors) <= 50


def test_streaming_in_small_chunks_tags_like_one_call(tagger):
    text = " ".join(f"Sentence {i} says hello to the world." for i in range(30))
    whole = tagger.tag(text).to_conllu()
    streamed = "".join(s.to_conllu() for s in tagger.tag_stream(read_raw([text], tagger.tokenizer), chunk_sentences=4))
    assert streamed == whole


def test_streaming_is_lazy_on_an_endless_input(tagger):
    endless = read_raw(itertools.repeat("One more sentence. "), tagger.tokenizer)
    first = list(itertools.islice(tagger.tag_stream(endless, chunk_sentences=8), 20))
    assert len(first) == 20 and all(s.tokens[0].upos for s in first)


def test_the_language_comes_from_the_model_or_the_caller(tiny_model):
    assert Tagger.load(tiny_model).language == "en"  # recorded from the data config
    unrecorded = load_model(tiny_model)
    unrecorded.provenance = {}  # a model that records no language: the caller's picks the rules
    assert not Tagger(unrecorded, language="fr").tokenizer.english
    with pytest.raises(TaggerError, match=r"^language fr given, but the model was trained on en text"):
        Tagger.load(tiny_model, language="fr")
    assert model_language({"data": "en_ewt"}) == "en"  # models that record no language: their UD name
    assert model_language({"data": "sample"}) is None


def test_the_shipped_english_model_tags_out_of_the_box():
    assert "en_ewt" in shipped.shipped_models()
    card = (shipped.SHIPPED_DIR / "en_ewt.md").read_text()
    assert "CC BY-SA 4.0" in card and "UD English-EWT" in card and "tagger eval" in card
    assert (shipped.SHIPPED_DIR / "en_ewt.safetensors").stat().st_size < 25_000_000
    tokens = Tagger.load("en_ewt", threads=1).tag("The cats didn't sleep.")[0].tokens
    assert [(t.form, t.upos) for t in tokens] == [
        ("The", "DET"), ("cats", "NOUN"), ("did", "AUX"), ("n't", "PART"), ("sleep", "VERB"), (".", "PUNCT"),
    ]


def test_the_demo_banner_reads_the_shipped_models_test_upos_from_its_card():
    import subprocess

    from tagger.inference.packages import shipped_infos

    # the test row of tagger/shipped_models/en_ewt.md, the card the build rendered from the same figures
    assert {metric: round(value, 2) for metric, value in shipped_infos()["en_ewt"].scores.items()} == {
        "UPOS": 95.73, "AllTags": 93.75, "Lemmas": 97.09}
    demo = (Path(__file__).resolve().parent.parent / "scripts" / "demo.sh").read_text()
    (assignment,) = [line for line in demo.splitlines() if line.startswith("upos=")]
    # demo.sh reads the card with the Python scripts/python_env.sh chose ($PYTHON); here, this one
    banner = subprocess.run(["bash", "-c", f"{assignment}; echo $upos"], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHON": sys.executable})
    assert banner.stdout == "95.73\n" and "$upos" in demo and "95.7" not in demo
