"""Entity spans for output: what a user of `tagger tag` wants from IOB2 tags, not the tags themselves."""

from __future__ import annotations

from collections.abc import Sequence

from tagger.data.iob import entity_spans as iob2_spans


def entity_spans(tags: Sequence[str], tokens: Sequence[str], offsets: Sequence[tuple[int, int]] | None = None) -> list[dict]:
    """One dict per entity: `text`, `type`, `token_start`/`token_end` (the ids of its first and last
    word: counted from 1, both included, as the words' `id`s and CoNLL-U ranges are) and, when the words' character `offsets` into raw input are known,
    `start`/`end` there too.

    Without offsets the text is the words joined by spaces; with them, a space only where the
    raw text had a gap.
    """
    entities = []
    for span in iob2_spans(tags):
        if offsets:
            text = tokens[span.start] + "".join(
                (" " if offsets[i][0] > offsets[i - 1][1] else "") + tokens[i] for i in range(span.start + 1, span.end)
            )
        else:
            text = " ".join(tokens[span.start : span.end])
        entity: dict = {"text": text, "type": span.type, "token_start": span.start + 1, "token_end": span.end}
        if offsets:
            entity["start"], entity["end"] = offsets[span.start][0], offsets[span.end - 1][1]
        entities.append(entity)
    return entities
