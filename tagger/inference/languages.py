"""The `--language` check of tagging; the codes themselves are `tagger.data.languages`, shared with training's config."""

from __future__ import annotations

from tagger.data.languages import EXAMPLES, is_language_code
from tagger.errors import TaggerError


def check_language(code: str) -> str:
    if not is_language_code(code):
        raise TaggerError(f"--language {code!r} is not an ISO 639 language code ({EXAMPLES})")
    return code
