"""The language check of tagging; the codes themselves are `tagger.data.languages`, shared with training's config."""

from __future__ import annotations

from tagger.data.languages import EXAMPLES, is_language_code
from tagger.errors import TaggerError


def check_language(code: str, option: str = "language=") -> str:
    """`code` if it is an ISO 639 code, else a TaggerError naming it as the caller's user wrote it
    (`option`: "language=" in Python, "--language " on the command line)."""
    if not is_language_code(code):
        raise TaggerError(f"{option}{code!r} is not an ISO 639 language code ({EXAMPLES})")
    return code
