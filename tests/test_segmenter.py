"""The learned segmenter: offsets and forced boundaries, learning from CoNLL-U, and its round trip through a file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import conllu
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from conftest import SAMPLE_TRAIN
from tagger.data.conllu_io import parse_conllu_text, read_conllu
from tagger.errors import ModelFileError, TaggerError
from tagger.inference.readers import from_tokenized
from tagger.inference.shipped import resolve_model
from tagger.model.model_file import load_model
from tagger.model.segmenter import Segmenter
from tagger.segmentation.learned import ForcedLabels, LearnedSegmenter, token_breaking_space
from tagger.segmentation.rules import Tokenizer
from tagger.segmentation.tokens import split_lines_into_sentences
from tagger.training.segmenter_training import default_configs, train_segmenter

NO_SPACE = "SpaceAfter=No"
NETWORK, TRAINING = default_configs()
SMALL = replace(NETWORK, embedding_dim=8, hidden_size=16, window=32, context=8, dropout=0.0)


def row(token_id: str, form: str, misc: str = "_") -> str:
    return "\t".join([token_id, form, "_", "_", "_", "_", "_", "_", "_", misc])


def block(text: str, *rows: str) -> str:
    return "\n".join([f"# text = {text}", *rows]) + "\n\n"


FRENCH = (
    block("Du pain.", row("1-2", "Du"), row("1", "De"), row("2", "le"), row("3", "pain", NO_SPACE), row("4", "."))
    + block("Il mange du riz", row("1", "Il"), row("2", "mange"), row("3-4", "du"), row("3", "de"), row("4", "le"),
            row("5", "riz"))
    + block("Elle a 20 000 euros.", row("1", "Elle"), row("2", "a"), row("3", "20 000"), row("4", "euros", NO_SPACE),
            row("5", "."))
)


def untrained(chars: str = "Duaeilmnprsz. ") -> LearnedSegmenter:
    no_rules = {"split_rules": [], "lexicon": {}}
    return LearnedSegmenter(Segmenter(sorted(set(chars)), no_rules, 2, SMALL).eval())


def test_tokens_keep_exact_offsets_and_space_after():
    text = "  Il mange.\nDu riz\tici  "
    for sentence in untrained().tokenize(text, offset=100):
        for token in sentence.tokens:
            assert text[token.start - 100 : token.end - 100] == token.text == "".join(token.words)
            assert token.text == token.text.strip()
            assert token.space_after == (token.end - 100 == len(text) or text[token.end - 100].isspace())
        assert sentence.text == text[sentence.start - 100 : sentence.end - 100]


def test_line_breaks_end_tokens_and_blank_lines_end_sentences_and_paragraphs():
    text = "Il mange\npain\n\n  Du riz"
    sentences = untrained().tokenize(text)
    assert all("\n" not in token.text for sentence in sentences for token in sentence.tokens)
    assert sentences[-1].end == len(text)
    before_blank = [s for s in sentences if s.end <= len("Il mange\npain")]
    assert before_blank and before_blank[-1].end == len("Il mange\npain")
    after_blank = [s for s in sentences if s.start > len("Il mange\npain")]
    assert after_blank[0].new_paragraph and not any(s.new_paragraph for s in after_blank[1:])


def test_empty_text_has_no_sentences():
    assert untrained().tokenize(" \n\n ") == []


def test_a_treebank_without_raw_text_cannot_train_a_segmenter():
    plain = parse_conllu_text(block("", row("1", "Il"), row("2", "mange")).replace("# text = \n", ""))
    with pytest.raises(TaggerError, match="has no raw text"):
        train_segmenter(plain, plain, SMALL, replace(TRAINING, max_steps=1), "plain.conllu")


@pytest.fixture(scope="module")
def trained() -> Segmenter:
    torch.set_num_threads(1)
    sentences = parse_conllu_text(FRENCH * 20)
    training = replace(TRAINING, max_steps=300, eval_every=100, batch_size=4, window=32, learning_rate=1e-2)
    segmenter, report = train_segmenter(sentences, parse_conllu_text(FRENCH), SMALL, training)
    assert report["dev"]["Words"] > 90
    return segmenter


def test_learns_tokens_with_a_space_sentence_ends_and_multiword_tokens(trained):
    sentences = LearnedSegmenter(trained).tokenize("Du pain. Il mange du riz Elle a 20 000 euros.")
    forms = [[token.text for token in sentence.tokens] for sentence in sentences]
    assert forms == [["Du", "pain", "."], ["Il", "mange", "du", "riz"], ["Elle", "a", "20 000", "euros", "."]]
    assert [token.words for token in sentences[0].tokens][0] == ("De", "le")


def test_round_trip_through_safetensors_and_json_metadata(trained, tmp_path):
    save_file({name: tensor.contiguous() for name, tensor in trained.state_dict().items()}, tmp_path / "s.safetensors")
    metadata = json.loads(json.dumps(trained.metadata()))
    again = Segmenter.from_metadata(metadata, load_file(tmp_path / "s.safetensors"))
    text = "Il mange du pain. Du riz."
    assert LearnedSegmenter(again).tokenize(text) == LearnedSegmenter(trained).tokenize(text)


def test_a_segmenter_of_another_format_is_refused():
    with pytest.raises(ModelFileError, match="segmenter format"):
        Segmenter.from_metadata({"format": "segmenter/99"}, {})



# -- properties that hold whatever the network decides ------------------------------------------------

ODD_TEXT = st.lists(st.sampled_from([
    *"aZ9 .,'-!?\"", "\n", "\n\n", "\t", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\u00a0", "\u2003",
    "\x1f", "\ufeff", "\x00", "du", "n't", "20 000", "日本", "\u0301",
])).map("".join)
LABELS = st.lists(st.integers(0, 2), min_size=1, max_size=40)


def assert_well_formed(sentences, text: str, inner_spaces: str) -> None:
    """Offsets exact, every visible character in exactly one token, no forbidden whitespace in a form,
    and CoNLL-U that the `conllu` package reads back with consecutive word ids."""
    position = 0
    for number, sentence in enumerate(sentences, start=1):
        assert sentence.text == text[sentence.start : sentence.end]
        for token in sentence.tokens:
            assert text[token.start : token.end] == token.text
            assert not text[position : token.start].strip()  # only whitespace was skipped
            assert not any(char.isspace() and char not in inner_spaces for char in token.text)
            position = token.end
        written = from_tokenized(sentence, number).to_conllu()
        (parsed,) = conllu.parse(written)
        ids = [token["id"] for token in parsed if isinstance(token["id"], int)]
        assert ids == list(range(1, len(ids) + 1))
    assert not text[position:].strip()


@settings(max_examples=150, deadline=None)
@given(ODD_TEXT)
def test_a_trained_segmenter_keeps_offsets_exact_and_forms_clean(trained, text):
    learned = LearnedSegmenter(trained)
    assert trained.inner_spaces == " "  # French training forms hold a plain space ("20 000"), nothing else
    assert_well_formed(learned.tokenize(text), text, " ")


@settings(max_examples=300, deadline=None)
@given(ODD_TEXT, LABELS, LABELS, st.sampled_from([32_768, 1]))
def test_any_boundary_decisions_give_well_formed_tokens(text, boundaries, rules, batch_chars):
    """Also with one window (16 characters) a batch: tokens and sentences carried across batches."""
    segmenter = Segmenter(sorted(set("Duaeilmnprsz. ")), {"split_rules": ["+2"], "lexicon": {"du": ["de", "le"]}},
                          4, SMALL, inner_spaces="").eval()
    learned = LearnedSegmenter(segmenter, batch_chars=batch_chars)

    def forced(choices: list[int], classes: int):
        def head(states):  # the network's decision at character i: choices[i % len(choices)]
            ids = torch.tensor(choices)[torch.arange(states.shape[0]) % len(choices)]
            return torch.nn.functional.one_hot(ids % classes, classes).float()
        return head

    learned.network.boundary.forward = forced(boundaries, 3)
    learned.network.multiword.forward = forced(rules, 4)
    assert_well_formed(learned.tokenize(text), text, "")


def test_training_a_segmenter_gives_the_callers_random_state_back():
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    sentences = parse_conllu_text(FRENCH)
    train_segmenter(sentences, sentences, SMALL, replace(TRAINING, max_steps=2, eval_every=1, batch_size=2, window=16))
    assert torch.equal(torch.rand(3), expected)


def test_a_progress_bar_shows_the_steps_of_max_steps_and_the_dev_scores(capsys):
    training = replace(TRAINING, max_steps=4, eval_every=2, batch_size=2, window=32)
    train_segmenter(parse_conllu_text(FRENCH * 2), parse_conllu_text(FRENCH), SMALL, training, progress=True)
    err = capsys.readouterr().err
    assert "segmenter" in err and "4/4" in err and "Tokens=" in err and "Words=" in err
    train_segmenter(parse_conllu_text(FRENCH * 2), parse_conllu_text(FRENCH), SMALL, training)
    assert capsys.readouterr().err == ""  # off the terminal (and in tests): no bar


def test_control_characters_are_tokens_of_their_own_whatever_the_network_says():
    text = "a\x00b\x07\x07esc\x1b[0m"
    segmenter = untrained(text)
    with torch.no_grad():  # a network that never ends a token: only decoding's rules do
        segmenter.network.boundary.weight.zero_()
        segmenter.network.boundary.bias.copy_(torch.tensor([10.0, -10.0, -10.0]))
    tokens = [token for sentence in segmenter.tokenize(text) for token in sentence.tokens]
    assert all(token.text == text[token.start : token.end] for token in tokens)
    assert [token.text for token in tokens] == ["a", "\x00", "b", "\x07", "\x07", "esc", "\x1b", "[0m"]


FORCED_TEXT = "Ab c\nd\x00e\n\n\x07 f \t g.  "  # 20 characters; a blank line at 8-9, two spaces at the end
FORCED = {  # worked out by hand, position by position: 1 = TOKEN_END, 2 = SENTENCE_END
    " ": {3: 1, 5: 1, 6: 1, 7: 2, 10: 1, 12: 1, 17: 2},  # "b c" and "\x07 f" may hold their space
    "": {1: 1, 3: 1, 5: 1, 6: 1, 7: 2, 10: 1, 12: 1, 17: 2},  # any space ends a token
}


@pytest.mark.parametrize("inner_spaces", FORCED)
@pytest.mark.parametrize("cuts", [[], [4, 9], [6, 7, 8], list(range(1, 20)), [17]])
def test_forced_labels_read_range_by_range_are_those_of_the_whole_text(inner_spaces, cuts):
    """Tokens end before a line break or tab (and any space, with no inner spaces), beside a control character;
    sentences before the blank line and at the end of the text; whatever ranges the text is read in."""
    forced = ForcedLabels(FORCED_TEXT, token_breaking_space(inner_spaces))
    bounds = [0, *cuts, len(FORCED_TEXT)]
    labels = torch.cat([forced.labels(start, end) for start, end in zip(bounds, bounds[1:])])
    assert labels.tolist() == [FORCED[inner_spaces].get(at, 0) for at in range(len(FORCED_TEXT))]


def test_forced_labels_of_a_range_skip_the_positions_before_it():
    forced = ForcedLabels(FORCED_TEXT, token_breaking_space(" "))
    assert forced.labels(9, 14).tolist() == [0, 1, 0, 1, 0]  # 10 and 12; 3..7 dropped, not wrapped around


def test_the_shipped_learned_segmenter_splits_off_nul_and_escape_as_the_rules_do():
    from tagger import Tagger

    tagger = Tagger.load("en_ewt", threads=1)
    assert tagger.tokenizer_kind == "learned"
    forms = [token.form for sentence in tagger.tag("a\x00b \x00 c\x00 red\x1b[0m", input_format="raw") for token in sentence]
    assert forms[:6] == ["a", "\x00", "b", "\x00", "c", "\x00"] and forms[6:8] == ["red", "\x1b"]


def test_a_window_cut_at_a_text_edge_shows_what_inference_shows_beyond_it():
    from tagger.training.segmenter_training import IGNORE, _as_text_edge, _training_stream
    from tagger.data.raw_text import paragraphs
    from tagger.segmentation.multiword import MultiwordExpander
    import random

    sentences = parse_conllu_text(FRENCH)
    segmenter = untrained("".join(sorted(set("Du pain. Il mange du riz Elle a 20 000 euros.\n")))).segmenter
    stream = _training_stream(segmenter, MultiwordExpander.learn([], 2), paragraphs(sentences))
    text = "Du pain. Il mange du riz Elle a 20 000 euros."  # the one paragraph; context pads before it
    pad, window = segmenter.config.context, 28  # room for one sentence end: "Du pain."
    ids, boundaries, rules = (t[:window].clone() for t in (stream.ids, stream.boundaries, stream.rules))
    end_of_first = pad + text.index(".")  # "Du pain." ends here; the next sentence end is past the window
    _as_text_edge(stream, 0, window, True, random.Random(0), ids, boundaries, rules)
    separator = segmenter.encode("\n\n").tolist()
    assert ids[pad : end_of_first + 1].tolist() == segmenter.encode("Du pain.").tolist()  # the sentence kept
    assert ids[end_of_first + 1 : end_of_first + 3].tolist() == separator  # then a blank line
    assert ids[end_of_first + 3 :].tolist() == [0] * (window - end_of_first - 3)  # then padding, labels ignored
    assert boundaries[end_of_first + 3 :].tolist() == [IGNORE] * (window - end_of_first - 3)
    assert boundaries[end_of_first] == 2 and boundaries[end_of_first - 1] == 1  # sentence end after "pain"'s token end


FR_SEQUOIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ud" / "fr_sequoia"


@pytest.mark.slow
@pytest.mark.skipif(not FR_SEQUOIA.is_dir(), reason="fr_sequoia lives in ../shared/data")
def test_a_treebank_without_paragraph_marks_still_teaches_how_a_text_ends():
    """fr_sequoia has no # newpar: one stream, in which a window almost never ended where a text does, and
    models trained on it glued a text's last period to its word ("dort."). 300 sentences, 400 steps: with
    windows cut at text edges it splits as mid-text; with text_ends=0 (the training before) it gave "dort."."""
    torch.set_num_threads(1)
    train = read_conllu(FR_SEQUOIA / "train.conllu")[:300]
    dev = read_conllu(FR_SEQUOIA / "dev.conllu")[:100]
    segmenter, _ = train_segmenter(train, dev, NETWORK, replace(TRAINING, max_steps=400, eval_every=100))
    learned = LearnedSegmenter(segmenter)
    for text in ("Le chat dort.", "Le chien mange.", "Il pleut."):
        [sentence] = learned.tokenize(text)
        assert [token.text for token in sentence.tokens][-2:] == [text[:-1].split()[-1], "."]


# -- long text: memory bounded by the batch ----------------------------------------------------------

@pytest.fixture(scope="module")
def english() -> Segmenter:
    return load_model(resolve_model("en_ewt")).segmenter


def sample_text() -> str:
    """The English sample's sentences on one line (about 50,000 characters, multiword tokens among them)."""
    prefix = "# text = "
    return " ".join(c[len(prefix):] for s in read_conllu(SAMPLE_TRAIN) for c in s.comments if c.startswith(prefix))


def count_centre_characters(learned: LearnedSegmenter, monkeypatch) -> list[int]:
    """The characters whose states each network call computes (window centres; context aside), call by call."""
    seen: list[int] = []
    forward = learned.network.forward

    def counted(ids):
        seen.append(ids.shape[0] * (ids.shape[1] - 2 * learned.config.context))
        return forward(ids)

    monkeypatch.setattr(learned.network, "forward", counted)
    return seen


def test_a_long_text_runs_in_batches_of_bounded_characters_and_splits_as_in_one_batch(english, monkeypatch):
    text = sample_text()
    whole = LearnedSegmenter(english, batch_chars=len(text)).tokenize(text)
    batched = LearnedSegmenter(english, batch_chars=2_000)
    seen = count_centre_characters(batched, monkeypatch)
    assert batched.tokenize(text) == whole
    assert len(seen) > 20 and max(seen) <= 2_000
    assert any(len(token.words) > 1 for sentence in whole for token in sentence.tokens)  # multiword heads ran
    assert_well_formed(whole, text, english.inner_spaces)


def test_one_long_line_hands_on_sentences_as_it_goes_and_splits_as_in_one_piece(english, monkeypatch):
    line = sample_text()
    in_one_piece = LearnedSegmenter(english).tokenize(line)
    learned = LearnedSegmenter(english, batch_chars=2_000)
    seen = count_centre_characters(learned, monkeypatch)
    stream = split_lines_into_sentences([line], learned, max_chars=10_000)
    first = next(stream)
    assert sum(seen) <= 2_000  # one batch of windows has run, not the line
    assert [first, *stream] == in_one_piece


@pytest.mark.parametrize("kind", ["learned", "rules"])
def test_an_unpunctuated_line_is_cut_into_sentences_of_bounded_length(english, kind):
    line = "the dog saw a cat " * 3_000
    tokenizer = LearnedSegmenter(english) if kind == "learned" else Tokenizer("en")
    sentences = list(split_lines_into_sentences([line], tokenizer, max_chars=5_000))
    assert len(sentences) >= 10 and all(sentence.end - sentence.start < 5_000 + len("the dog ") for sentence in sentences)
    assert [token.text for sentence in sentences for token in sentence.tokens] == line.split()
    assert_well_formed(sentences, line, " ")
