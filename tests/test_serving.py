"""One Tagger in a service: many threads, a forked worker, endless lines, odd text and wrong types.

These use the shipped English model (no training): a service loads a real model, and its
learned segmenter is the path that raw text takes by default.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading

import pytest

from tagger import Tagger
from tagger.data.conllu_io import Sentence
from tagger.errors import TaggerError
from tagger.inference.shipped import resolve_model
from tagger.model.model_file import load_model
from tagger.prediction import predictor as predictor_module
from tagger.prediction.windows import Window, join, window_bounds

TEXTS = [
    "The cats didn't sleep.",
    "I saw Dr. Smith in Paris yesterday, and she waved!",
    "Prices rose 5% in 2024; analysts were surprised.",
    "Zyqwert flibbed the grommets quixotically.",  # forms outside the vocabulary: the LRU's business
    "She'll e-mail you at noon.\n\nNew paragraph here.",
]


def _tags(documents) -> list:
    return [[(t.form, t.start, t.end, t.upos, t.xpos, t.feats, t.lemma) for s in d for t in s] for d in documents]


@pytest.fixture(scope="module")
def bundle():
    return load_model(resolve_model("en_ewt"))


@pytest.mark.parametrize("cache_size", [16, 50_000])
@pytest.mark.parametrize("stored_table", [True, False])
def test_threads_sharing_one_tagger_get_what_sequential_calls_get(bundle, cache_size, stored_table):
    if not stored_table:  # a model file from before the table: threads fill it as they go
        bundle = dataclasses.replace(bundle, form_table=None)
    texts = [f"{text} Item {i} of {name}." for i, text in enumerate(TEXTS * 5) for name in ("Qwobble", "Ann")]
    expected = _tags(Tagger(bundle, precision="float32", cache_size=cache_size).tag(text) for text in texts)
    shared = Tagger(bundle, precision="float32", cache_size=cache_size)
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            order = texts[worker:] + texts[:worker]  # each thread its own order: the cache churns
            tagged = _tags(shared.tag(text) for text in order)
            results[worker] = tagged[-worker:] + tagged[:-worker] if worker else tagged
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(results[worker] == expected for worker in range(8))


def _tag_in_child(tagger: Tagger, text: str, queue) -> None:
    queue.put(_tags([tagger.tag(text)]))


def test_a_forked_child_tags_like_its_parent():
    tagger = Tagger.load("en_ewt", precision="float32")
    expected = _tags([tagger.tag(TEXTS[1])])  # the parent has used torch before forking, as a server would
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_tag_in_child, args=(tagger, TEXTS[1], queue))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0 and got == expected


def test_window_bounds_cover_every_word_once_with_context_on_both_sides():
    assert window_bounds(10, 256, 32) == [(0, 10, 0, 10)]
    # 500 words, windows of 256 keeping 192 words each and reading 32 more on either side
    assert window_bounds(500, 256, 32) == [(0, 224, 0, 192), (160, 416, 192, 384), (352, 500, 384, 500)]


def test_the_network_never_sees_more_than_the_window_and_every_word_is_tagged(monkeypatch):
    tagger = Tagger.load("en_ewt", precision="float32")
    seen: list[int] = []
    original = tagger.predictor.logits
    monkeypatch.setattr(tagger.predictor, "logits", lambda forms: seen.extend(map(len, forms)) or original(forms))
    words = ("the quick brown fox jumps over the lazy dog and " * 100).split()
    (sentence,) = tagger.tag([words])
    assert max(seen) <= predictor_module.MAX_SENTENCE_TOKENS
    assert len(sentence) == 1000 and all(token.upos for token in sentence)
    assert {token.upos for token in sentence if token.form == "fox"} == {"NOUN"}
    assert {token.upos for token in sentence if token.form == "the"} == {"DET"}


def test_a_long_raw_line_through_the_learned_segmenter_is_windowed_with_offsets_and_probabilities(monkeypatch):
    tagger = Tagger.load("en_ewt", precision="float32")
    seen: list[int] = []
    original = tagger.predictor.logits
    monkeypatch.setattr(tagger.predictor, "logits", lambda forms: seen.extend(map(len, forms)) or original(forms))
    text = "the dog saw a cat " * 120  # 600 words, no punctuation: one sentence for the segmenter
    document = tagger.tag(text, probabilities=True, top_k=2)
    tokens = [token for sentence in document for token in sentence]
    assert max(map(len, document)) > predictor_module.MAX_SENTENCE_TOKENS  # a sentence the network cannot see whole
    assert max(seen) <= predictor_module.MAX_SENTENCE_TOKENS
    assert [t.form for t in tokens] == text.split()
    assert all(text[t.start : t.end] == t.form for t in tokens)
    assert all(0 < t.probabilities["upos"] <= 1 and len(t.top_k["upos"]) == 2 for t in tokens)
    assert {t.upos for t in tokens if t.form in ("dog", "cat")} == {"NOUN"}


def test_entity_spans_stay_well_formed_where_windows_meet():
    def piece(tags: list[str]) -> Sentence:
        sentence = Sentence.from_forms(["w"] * len(tags))
        sentence.set_column("misc:NER", tags)
        return sentence

    whole = Sentence.from_forms(["w"] * 6)
    # the first window keeps words 0-2 (its word 2 ends in O), the second keeps 3-5 and starts inside a span
    first, second = piece(["B-PER", "I-PER", "O", "O"]), piece(["B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"])
    join([Window(whole, first, 0, 0, 3), Window(whole, second, 1, 3, 6)], ["misc:NER"], ["misc:NER"])
    assert whole.column("misc:NER") == ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"]


def test_a_byte_order_mark_shifts_no_offset():
    text = "\ufeffHello world."
    (sentence,) = Tagger.load("en_ewt").tag(text)
    assert [(t.form, t.start, t.end) for t in sentence] == [("Hello", 1, 6), ("world", 7, 12), (".", 12, 13)]
    assert all(text[t.start : t.end] == t.form for t in sentence)


def test_conllu_with_a_byte_order_mark_is_still_read_as_conllu():
    (sentence,) = Tagger.load("en_ewt").tag("\ufeff1\tHello\t_\t_\t_\t_\t_\t_\t_\t_\n\n")
    assert [t.form for t in sentence] == ["Hello"]


@pytest.mark.parametrize("text", ["abc \ndef", "abc \u00a0def", "abc\u2028def", "abc \t\x0bdef", "abc\x85def"])
def test_no_line_break_tab_or_other_space_ends_up_inside_a_token(text, monkeypatch):
    # the network is overruled: it says "no boundary" everywhere, so the forced boundaries alone
    # must keep such whitespace out of tokens (en_ewt has no whitespace inside any form)
    tagger = Tagger.load("en_ewt")
    never = lambda states: states.new_zeros(*states.shape[:-1], 3) + states.new_tensor([1.0, 0.0, 0.0])  # noqa: E731
    monkeypatch.setattr(tagger.tokenizer.network.boundary, "forward", never)
    assert [t.form for s in tagger.tag(text) for t in s] == ["abc", "def"]


def test_bytes_are_decoded_as_utf8_and_anything_else_is_one_line():
    tagger = Tagger.load("en_ewt")
    assert [t.form for s in tagger.tag("Grüße!".encode()) for t in s] == ["Grüße", "!"]
    with pytest.raises(TaggerError, match=r"not UTF-8 \(byte 0xff at index 2\)"):
        tagger.tag(b"ab\xff")
    with pytest.raises(TaggerError, match=r"lone surrogate \(U\+D800\) at index 3"):
        tagger.tag("abc\ud800")
    with pytest.raises(TaggerError, match="got NoneType"):
        tagger.tag(None)
    with pytest.raises(TaggerError, match="got int"):
        tagger.tag(42)
    with pytest.raises(TaggerError, match="for one text use tag"):
        list(tagger.pipe("one text"))


def test_pipe_segments_texts_together_and_gives_each_its_own_offsets():
    tagger = Tagger.load("en_ewt")
    texts = [*TEXTS, "", "\ufeffBOM here.", "1\tHi\t_\t_\t_\t_\t_\t_\t_\t_\n\n"]
    piped = list(tagger.pipe(texts, batch_size=3))
    assert [len(document) for document in piped] == [len(tagger.tag(text)) for text in texts]
    assert _tags(piped) == _tags(tagger.tag(text) for text in texts)
    for text, document in zip(texts, piped):
        assert [s.sentence.comments[-2] for s in document if s.spans] == [
            f"# sent_id = {i}" for i in range(1, len([s for s in document if s.spans]) + 1)]
        assert all(text[t.start : t.end] == t.form for s in document for t in s if t.start is not None)


def test_pipe_groups_are_bounded_in_characters_and_each_text_keeps_its_offsets(monkeypatch):
    tagger = Tagger.load("en_ewt")
    segmented: list[int] = []
    sentences = tagger.tokenizer.sentences
    monkeypatch.setattr(tagger.tokenizer, "sentences", lambda text, *rest: segmented.append(len(text)) or sentences(text, *rest))
    texts = [f"Text {i:02} says hello to Dr. Smith. It didn't rain in Paris." for i in range(30)]  # 57 characters each
    piped = list(tagger.pipe(texts, batch_chars=300))
    assert segmented == [5 * 57 + 4 * len("\n\n")] * 6  # five texts a group, joined by blank lines
    assert _tags(piped) == _tags(tagger.tag(text) for text in texts)
    assert all(text[t.start : t.end] == t.form for text, document in zip(texts, piped) for s in document for t in s)


def test_pipe_groups_stay_within_100k_characters_by_default(monkeypatch):
    from tagger.inference import tagger as tagger_module

    tagger = Tagger.load("en_ewt")
    groups: list[int] = []
    monkeypatch.setattr(tagger_module, "read_raw_texts", lambda texts, _: groups.append(sum(map(len, texts))) or [[] for _ in texts])
    longest = "word " * 60_000  # 300,000 characters: a group of its own
    documents = list(tagger.pipe(["x" * 30_000] * 7 + [longest] + ["y" * 40_000] * 3))
    assert len(documents) == 11
    assert groups == [90_000, 90_000, 30_000, 300_000, 80_000, 40_000]
