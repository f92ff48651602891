"""Language codes: what `--language` and `Tagger(language=...)` accept (ISO 639, as UD names treebanks)."""

from __future__ import annotations

import re

import pycountry

from tagger.errors import TaggerError

_PRIVATE_USE = re.compile(r"q[a-t][a-z]")  # ISO 639's local range; UD uses it for code-switched treebanks (qtd)


def is_language_code(code: str) -> bool:
    """True for an ISO 639-1 code (en), an ISO 639-2/3 code (eng, grc, fre) or one of the private-use range."""
    if not re.fullmatch(r"[a-z]{2,3}", code):
        return False
    if _PRIVATE_USE.fullmatch(code):
        return True
    languages = pycountry.languages
    return any(languages.get(**{key: code}) for key in ("alpha_2", "alpha_3", "bibliographic"))


def check_language(code: str) -> str:
    if not is_language_code(code):
        raise TaggerError(f"--language {code!r} is not an ISO 639 language code (such as en, fr, tr or grc)")
    return code
