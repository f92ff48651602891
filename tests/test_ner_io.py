"""NER readers and tag schemes: every format becomes IOB2 `Sentence` records with the tag in MISC."""

from __future__ import annotations

import logging

import pytest

from tagger.data.conllu_io import parse_conllu_text
from tagger.data.iob import Span, detect_scheme, entity_spans, looks_like_entity_tags, to_iob2
from tagger.data.readers import guess_format, read_data
from tagger.errors import DataFormatError, TaggerError

from conftest import DATA

UNER_TRAIN = DATA / "uner_pt_sample_train.iob2"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_iob1_becomes_iob2_without_counting_repairs():
    tags, repairs = to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1")
    assert tags == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert repairs == 0


def test_bioes_becomes_iob2():
    tags, _ = to_iob2(["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "B-ORG", "E-ORG"], "bioes")
    assert tags == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-ORG", "I-ORG"]


def test_invalid_iob2_starts_are_repaired_and_counted_like_seqeval_reads_them():
    tags, repairs = to_iob2(["I-PER", "O", "I-LOC", "B-ORG", "I-PER", "I-PER"], "iob2")
    assert tags == ["B-PER", "O", "B-LOC", "B-ORG", "B-PER", "I-PER"]
    assert repairs == 3


def test_repaired_spans_equal_seqeval_default_mode_entities():
    from seqeval.metrics.sequence_labeling import get_entities

    raw = ["O", "I-PER", "I-PER", "B-LOC", "I-ORG", "O", "I-LOC", "B-LOC", "I-LOC"]
    repaired, _ = to_iob2(raw)
    ours = {(s.type, s.start, s.end - 1) for s in entity_spans(repaired)}
    assert ours == set(get_entities(raw)) == {(s.type, s.start, s.end - 1) for s in entity_spans(raw)}


def test_scheme_detection():
    assert detect_scheme([["B-PER", "I-PER", "O", "I-LOC"]]) == "iob2"
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]) == "iob1"
    assert detect_scheme([["S-PER", "O"]]) == "bioes"


def test_entity_spans_give_type_and_token_range():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]) == [
        Span("PER", 0, 2), Span("LOC", 3, 4), Span("LOC", 4, 5)]


def test_pos_tags_do_not_look_like_entity_tags():
    assert looks_like_entity_tags(["O", "B-PER", "I-PER"])
    assert not looks_like_entity_tags(["NOUN", "X", "O"])
    assert not looks_like_entity_tags(["O", "O"])


def test_uner_file_reads_into_sentences_with_ner_in_misc():
    sentences = read_data(UNER_TRAIN, "uner", columns=["misc:NER"])
    assert len(sentences) == 80
    first = sentences[0]
    assert first.forms == ["PT", "em", "o", "governo"]
    assert first.column("misc:NER") == ["B-ORG", "O", "O", "O"]
    assert first.comments[-1] == "# text = PT em o governo"
    assert first.to_conllu().rstrip().splitlines()[-1] == "4\tgoverno\t_\t_\t_\t_\t_\t_\t_\tNER=O"


def test_uner_bad_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.iob2", "# text = a b\n1\ta\tO\t-\t-\n2\tb\tB-PER\t-\n\n")
    with pytest.raises(DataFormatError, match=r"bad\.iob2:3: expected 5"):
        read_data(path, "uner", columns=["misc:NER"])


def test_bad_entity_tag_names_its_line(tmp_path):
    path = write(tmp_path, "bad.iob2", "# sent_id = 1\n# text = a b\n1\ta\tO\t-\t-\n2\tb\tB_PER\t-\t-\n\n")
    with pytest.raises(DataFormatError, match=r"bad\.iob2:4: bad entity tag 'B_PER'"):
        read_data(path, "uner", columns=["misc:NER"])


def test_column_file_handles_docstart_tab_only_breaks_and_conll2003_fields(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\t\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n   \n"
        "-DOCSTART- -X- -X- O\nLondon NNP B-NP B-LOC\n"
    )
    path = write(tmp_path, "c.conll", text)
    sentences = read_data(path, "columns", fields=["form", "xpos", "chunk", "ner"], columns=["misc:NER", "xpos"])
    assert [s.forms for s in sentences] == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["London"]]
    assert sentences[0].column("xpos") == ["NNP", "VBZ", "JJ"]
    assert sentences[0].column("misc:CHUNK") == ["B-NP", "B-VP", "B-NP"]
    assert sentences[1].column("misc:NER") == ["B-PER", "I-PER"]
    assert sentences[2].line == 11


def test_column_file_with_iob1_tags_is_read_as_iob2(tmp_path):
    path = write(tmp_path, "iob1.txt", "Peter\tI-PER\nBlackburn\tI-PER\nin\tO\nLondon\tI-LOC\n\n")
    [sentence] = read_data(path, "columns", columns=["misc:NER"])
    assert sentence.column("misc:NER") == ["B-PER", "I-PER", "O", "B-LOC"]


def test_column_file_with_wrong_field_count_names_line(tmp_path):
    path = write(tmp_path, "bad.conll", "a\tO\nb\tO\textra\n\n")
    with pytest.raises(DataFormatError, match=r"bad\.conll:2: expected 2 columns"):
        read_data(path, "columns", columns=["misc:NER"])


def test_invalid_starts_are_repaired_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, "w.conll", "a\tB-PER\nb\tI-PER\nc\tO\nd\tI-LOC\n\ne\tB-LOC\nf\tI-PER\n\n")
    with caplog.at_level(logging.WARNING):
        sentences = read_data(path, "columns", scheme="iob2", columns=["misc:NER"])
    assert [s.column("misc:NER") for s in sentences] == [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "B-PER"]]
    assert "2 invalid IOB2 tag(s)" in caplog.text


def test_conllu_with_ner_in_misc_and_bioes_is_read_as_iob2(tmp_path):
    text = (
        "1\tAna\t_\tPROPN\t_\t_\t_\t_\t_\tNER=B-PER|SpaceAfter=No\n"
        "2\tSilva\t_\tPROPN\t_\t_\t_\t_\t_\tNER=E-PER\n"
        "3\tem\t_\tADP\t_\t_\t_\t_\t_\tNER=O\n"
        "4\tLisboa\t_\tPROPN\t_\t_\t_\t_\t_\tNER=S-LOC\n\n"
    )
    [sentence] = read_data(write(tmp_path, "x.conllu", text), "conllu", columns=["upos", "misc:NER"])
    assert sentence.column("misc:NER") == ["B-PER", "I-PER", "O", "B-LOC"]
    assert sentence.column("upos") == ["PROPN", "PROPN", "ADP", "PROPN"]
    assert sentence.rows[0][9] == "NER=B-PER|SpaceAfter=No"


def test_conllu_default_leaves_pos_columns_alone(tmp_path):
    text = "1\tO\t_\tX\t_\t_\t_\t_\t_\t_\n\n"
    [sentence] = read_data(write(tmp_path, "x.conllu", text), columns=["upos"])
    assert sentence.column("upos") == parse_conllu_text(text)[0].column("upos")


def test_unknown_format_and_missing_form_field_are_config_errors(tmp_path):
    path = write(tmp_path, "a.conll", "a\tO\n\n")
    with pytest.raises(TaggerError, match="data.format"):
        read_data(path, "tsv")
    with pytest.raises(TaggerError, match="'form'"):
        read_data(path, "columns", fields=["word", "ner"])


def test_format_is_guessed_from_the_extension():
    assert guess_format("x/train.iob2") == "uner"
    assert guess_format("wnut17/dev.conll") == "columns"
    assert guess_format("en_ewt/dev.conllu") == "conllu"


def test_conllu_token_without_the_ner_key_names_its_line(tmp_path):
    text = "# text = a b\n1\ta\t_\t_\t_\t_\t_\t_\t_\tNER=B-PER\n2\tb\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No\n\n"
    with pytest.raises(DataFormatError, match=r"x\.conllu:3: bad entity tag '_'"):
        read_data(write(tmp_path, "x.conllu", text), "conllu", columns=["misc:NER"])


def test_empty_ner_file_is_an_error(tmp_path):
    with pytest.raises(DataFormatError, match="no sentences"):
        read_data(write(tmp_path, "empty.iob2", "\n\n"), "uner", columns=["misc:NER"])
