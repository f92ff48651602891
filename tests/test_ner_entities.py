"""Entity spans for output: text, type, token range and character offsets."""

from __future__ import annotations

from tagger.inference.entities import entity_spans


def test_spans_from_tokens_without_offsets_join_words_with_spaces():
    tags = ["B-PER", "I-PER", "O", "B-LOC"]
    assert entity_spans(tags, ["Ana", "Silva", "em", "Lisboa"]) == [
        {"text": "Ana Silva", "type": "PER", "token_start": 1, "token_end": 2},  # ids of the first and last word
        {"text": "Lisboa", "type": "LOC", "token_start": 4, "token_end": 4},
    ]


def test_spans_from_raw_text_carry_character_offsets_and_keep_its_spacing():
    text = "Visit New-York today"
    tokens = ["Visit", "New", "-", "York", "today"]
    offsets = [(0, 5), (6, 9), (9, 10), (10, 14), (15, 20)]
    [entity] = entity_spans(["O", "B-LOC", "I-LOC", "I-LOC", "O"], tokens, offsets)
    assert entity == {"text": "New-York", "type": "LOC", "token_start": 2, "token_end": 4, "start": 6, "end": 14}
    assert text[entity["start"] : entity["end"]] == entity["text"]


def test_no_entities_give_an_empty_list():
    assert entity_spans(["O", "O"], ["a", "b"]) == []
