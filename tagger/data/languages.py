"""Language codes (ISO 639, as UD names treebanks): what `data.language`, `--language` and `Tagger(language=...)` accept."""

from __future__ import annotations

import re

import pycountry

_PRIVATE_USE = re.compile(r"q[a-t][a-z]")  # ISO 639's local range; UD uses it for code-switched treebanks (qtd)
EXAMPLES = "such as en, fr, tr or grc"


def is_language_code(code: str) -> bool:
    """True for an ISO 639-1 code (en), an ISO 639-2/3 code (eng, grc, fre) or one of the private-use range."""
    if not re.fullmatch(r"[a-z]{2,3}", code):
        return False
    if _PRIVATE_USE.fullmatch(code):
        return True
    languages = pycountry.languages
    return any(languages.get(**{key: code}) for key in ("alpha_2", "alpha_3", "bibliographic"))
