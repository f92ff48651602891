"""Raw text -> sentences of UD-style tokens, with character offsets into the input.

One compiled regular expression scans the text; its alternatives are tried in order at each
position, so the things that must stay whole (URLs, e-mail addresses, numbers, abbreviations,
emoticons) come before the general word and punctuation rules. English adds two UD conventions:
hyphens split compounds unless the first part is a prefix (*e-mail*, *non-stop*), and clitics
(*n't*, *'s*, *'re*, *'ll*, ...) become separate syntactic words of one multiword token, the
way UD English-EWT annotates them. Other languages get the Unicode-aware rules without these.

Sentences end after sentence-final punctuation followed by a token that does not start in
lower case, and at blank lines (paragraph breaks). A word of a multiword token is always a
slice of its surface token, so every word keeps exact offsets. The token records it produces,
and the streaming of long inputs through any tokenizer, are `tagger.segmentation.tokens`.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterator

from tagger.segmentation.tokens import BLANK_LINES, Token, TokenizedSentence

ENGLISH = "en"


@functools.cache
def _marks() -> str:
    """A character-class body of every combining mark: `\\w` misses them (Devanagari vowel signs, ...)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


# Abbreviations that keep their period (UD English tokenises "Dr." as one token), in any case...
ENGLISH_ABBREVIATIONS = (
    "mr mrs ms dr drs prof rev gen lt col sgt capt cpl gov sen rep pres st jr sr mt ft inc corp co ltd "
    "bros dept univ assn vol vols figs pp approx vs al cf ave blvd hwy attn reps ext"
).split()
# ... and capitalised only, as "Wash." and "Sat." are also words that may end a sentence.
ENGLISH_CAPITALISED_ABBREVIATIONS = (
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Tues Wed Thu Thur Thurs Fri Sat Sun "
    "Ala Ariz Ark Calif Colo Conn Del Fla Ga Ill Ind Kan Ky La Md Mass Mich Minn Miss Mo Mont Neb "
    "Nev Okla Ore Pa Tenn Tex Va Vt Wash Wis Wyo Fig Est Rd"
).split()
# A hyphen after these stays inside the word (UD English-EWT: "e-mail", "non-stop", "re-read").
ENGLISH_HYPHEN_PREFIXES = frozenset(
    "e non co post pre re anti pro ex mid multi semi neo sub over counter cross intra inter "
    "psycho socio arch un micro macro mega mini ultra".split()
)
# Clitics without an apostrophe, as EWT splits them: word -> length of the host.
ENGLISH_FUSED = {
    "cannot": 3, "gonna": 3, "wanna": 3, "gotta": 3, "dont": 2, "didnt": 3, "doesnt": 4, "cant": 2,
    "wont": 2, "isnt": 2, "wasnt": 3, "arent": 3, "werent": 4, "couldnt": 5, "wouldnt": 5,
    "shouldnt": 6, "havent": 4, "hasnt": 3, "hadnt": 3, "aint": 2, "im": 1, "ive": 1, "youre": 3,
    "thats": 4, "whats": 4, "theres": 5,
}
ENGLISH_UNITS = "am|pm|AM|PM|a\\.m\\.|p\\.m\\.|mm|cm|km|kg|lbs?|ft|m|min|hrs?"
FILE_EXTENSIONS = "com|org|net|edu|gov|mil|doc|docx|xls|xlsx|ppt|pptx|pdf|txt|htm|html|jpg|jpeg|gif|png|zip|exe|csv"

_CLITIC = re.compile(r"(?i)^(\w.*?)(n['’]t|['’](?:s|m|re|ve|ll|d))$")
_SENTENCE_FINAL = re.compile(r"^(?:[.!?…]+|[。！？।॥؟]+)$")
_CLOSING = frozenset("\"'”’)]}»")
_SPLITTABLE = frozenset({"word", "fused", "number"})  # English rules whose matches may hold several words


def _pattern(english: bool) -> re.Pattern[str]:
    """The scanner; `lastgroup` names the rule that matched, which decides any further splitting."""
    word = r"\w+" if english else rf"[\w{_marks()}]+"
    abbreviations = "|".join(ENGLISH_ABBREVIATIONS)
    capitalised = "|".join(ENGLISH_CAPITALISED_ABBREVIATIONS)
    # At the very end of the text an abbreviation's period is the sentence's full stop (EWT: "etc ."),
    # and "etc." before a capitalised word ends a sentence too.
    period = r"\.(?!\w)(?!\s*$)"
    # English: "60's", "5pm" -> 5 + pm; elsewhere a suffix after an apostrophe (Turkish "6'dan")
    suffix, units = (r"['’]s", ENGLISH_UNITS) if english else (r"['’][^\W\d]+", "")
    rules = [
        ("url", r"(?:https?://|ftp://|www\.)[^\s<>\"]*[^\s<>\"'.,;:!?)\]}]"),  # trailing punctuation left off
        ("email", r"[\w.+%-]*(?:\w|\.\.\.)@\w[\w-]*(?:\.[\w-]+)*"),  # also "Name@ORG" mail headers
        # file and domain names, dotted lower-case names (alt.animals.cat), hashtags and mentions
        ("file", rf"(?i:[\w-]+\.)+(?i:{FILE_EXTENSIONS})(?!\w)|\.(?i:doc|xls|pdf|txt)(?!\w)"
                 r"|[a-z][a-z0-9_-]+(?:\.[a-z][a-z0-9_-]+)+(?!\w)|[#@][^\W\d]\w*"),
        # numbers, times, dates and phone numbers stay whole; a unit after them is split off ("5pm")
        # (hyphens join digits only in phone numbers and dates: "5-10" is a range, split like EWT does)
        ("number", rf"\+?(?:\d+(?:-\d+){{2,}}|\d{{3}}-\d{{4}}|\d+(?:[.,:/]\d+)*)(?:{suffix})?(?=(?:{units})?(?!\w))"),
    ]
    if english:
        rules += [
            ("abbreviation", rf"(?i:etc){period}(?!\s+[A-Z])|(?i:{abbreviations}){period}|(?:{capitalised}){period}"
                             rf"|(?i:no|nos)\.(?=\s*\d)|Yahoo!"),
            ("acronym", r"(?:[A-Za-z]\.)+[A-Za-z](?:\.(?!\s*$))?(?!\w)|[A-Z]\.(?=\s)|[A-Za-z]/[A-Za-z](?!\w)|[Ww]/(?=\s)"),
            ("fused", "(?:" + "|".join(f"[{w[0]}{w[0].upper()}]{w[1:]}" for w in ENGLISH_FUSED) + r")(?!\w)"),
            # a word with inner apostrophes, hyphens or ampersands (split later), and "parents'"
            ("word", rf"{word}(?:['’`&]{word}|-{word})*(?:(?<=[sS])['’](?!\w))?|['’](?:s|re|ve|ll|d|m)(?!\w)"),
        ]
    else:
        rules.append(("word", rf"{word}(?:['’\u200c\u200d-]{word})*"))  # joiners stay inside (Persian ZWNJ)
    rules += [
        ("emoticon", r"[:;=8][-o']?[)(\]\[DPpO/\\|*](?!\w)|\^_\^|<3|\(:"),
        ("run", r"\.{2,}|[!?][!?.]*|\.[!?][!?.]*|-{2,}|‘’|(?P<repeated>[^\w\s])(?P=repeated)+"),  # ... !? -- ‘’ **
        # one symbol with what belongs to it: variation selectors, skin tones, ZWJ-joined emoji; flags
        ("other", r"[\U0001F1E6-\U0001F1FF]{2}|\S(?:[\ufe0e\ufe0f\u20e3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]|\u200d\S)*"),
    ]
    return re.compile("|".join(f"(?P<{name}>{rule})" for name, rule in rules))


class Tokenizer:
    """UD-style tokenizer and sentence splitter; `language="en"` enables the English rules."""

    def __init__(self, language: str | None = None) -> None:
        self.language = language
        self.english = language == ENGLISH
        self.pattern = _pattern(self.english)

    def tokenize(self, text: str, offset: int = 0, new_paragraph: bool = True) -> list[TokenizedSentence]:
        """Sentences of `text`; offsets are into `text` plus `offset` (for text cut from a stream)."""
        return list(self.sentences(text, offset, new_paragraph))

    def sentences(
        self, text: str, offset: int = 0, new_paragraph: bool = True, max_sentence_chars: int | None = None
    ) -> Iterator[TokenizedSentence]:
        """`tokenize`'s sentences one at a time; with `max_sentence_chars`, a sentence that reaches it is cut there."""
        start = 0
        for blank in BLANK_LINES.finditer(text):
            yield from self._paragraph(text, start, blank.start(), offset, new_paragraph, max_sentence_chars)
            start, new_paragraph = blank.end(), True
        yield from self._paragraph(text, start, len(text), offset, new_paragraph, max_sentence_chars)

    def _paragraph(
        self, text: str, start: int, end: int, offset: int, new_paragraph: bool, max_sentence_chars: int | None
    ) -> Iterator[TokenizedSentence]:
        """The sentences of text[start:end]; the scanner sees `end` as the end of the text."""
        tokens: list[Token] = []
        previous_end = -1
        pending_end = False  # the last token may end a sentence, depending on what follows
        for match in self.pattern.finditer(text, start, end):
            position = match.start()
            piece = match.group()
            if position == previous_end:
                tokens[-1].space_after = False
                if pending_end and piece not in _CLOSING:  # "Hello.World" goes on; '."' waits for the next word
                    pending_end = False
            elif pending_end:
                if not _continues(piece[0]):
                    yield _sentence(tokens, text, offset, new_paragraph)
                    tokens, new_paragraph = [], False
                pending_end = False
            long = max_sentence_chars and tokens and tokens[-1].end - tokens[0].start >= max_sentence_chars
            if long and position != previous_end:  # cut at whitespace, where the last token's space_after is known
                yield _sentence(tokens, text, offset, new_paragraph)
                tokens, new_paragraph = [], False
            rule = match.lastgroup
            begin = position + offset
            if not self.english or rule not in _SPLITTABLE:
                tokens.append(Token(piece, begin, begin + len(piece), (piece,)))
                if rule == "other" or rule == "run":
                    pending_end = _SENTENCE_FINAL.match(piece) is not None or pending_end
            elif rule == "number":  # "60's" -> 60 + 's; hyphens stay ("713-853-3989")
                words = _english_words(piece) if piece[-1] in "sS" else (piece,)
                tokens.append(Token(piece, begin, begin + len(piece), words))
            elif rule == "fused":
                host = ENGLISH_FUSED[piece.lower()]
                tokens.append(Token(piece, begin, begin + len(piece), (piece[:host], piece[host:])))
            elif "-" in piece or "'" in piece or "’" in piece:
                tokens.extend(self._english_tokens(piece, begin, text, position))
            else:
                tokens.append(Token(piece, begin, begin + len(piece), (piece,)))
            previous_end = match.end()
        if tokens:
            yield _sentence(tokens, text, offset, new_paragraph)

    def _english_tokens(self, piece: str, start: int, text: str, local_start: int) -> list[Token]:
        """An English word splits at hyphens (unless after a prefix), and into clitics."""
        if piece[-1] in "'’" and local_start > 0 and text[local_start - 1] in "'‘":
            # 'Christians' is a quotation, not a plural possessive: the apostrophe closes it
            end = start + len(piece) - 1
            return [*self._english_tokens(piece[:-1], start, text, local_start), Token(piece[-1], end, end + 1, (piece[-1],))]
        if "-" in piece:
            return list(self._split_hyphens(piece, start))
        return [Token(piece, start, start + len(piece), _english_words(piece))]

    @staticmethod
    def _split_hyphens(piece: str, start: int) -> Iterator[Token]:
        parts = piece.split("-")
        kept = parts[0]
        for part in parts[1:]:
            if "-" not in kept and kept.lower() in ENGLISH_HYPHEN_PREFIXES:
                kept = f"{kept}-{part}"
                continue
            yield Token(kept, start, start + len(kept), _english_words(kept), space_after=False)
            start += len(kept)
            yield Token("-", start, start + 1, ("-",), space_after=False)
            start += 1
            kept = part
        yield Token(kept, start, start + len(kept), _english_words(kept))


def _sentence(tokens: list[Token], text: str, offset: int, new_paragraph: bool) -> TokenizedSentence:
    return TokenizedSentence(tokens, text[tokens[0].start - offset : tokens[-1].end - offset], new_paragraph)


def _continues(char: str) -> bool:
    """A sentence does not end before a lower-case letter or a continuing punctuation mark."""
    return char.islower() or char in ",;:)]}%"


def _english_words(token: str) -> tuple[str, ...]:
    """Syntactic words of an English token: "don't" -> do + n't, "Bush's" -> Bush + 's, "parents'" -> parents + '."""
    lower = token.lower()
    host = ENGLISH_FUSED.get(lower)
    if host is not None:
        return token[:host], token[host:]
    if "'" in token or "’" in token:
        match = _CLITIC.match(token)
        if match:
            return match.group(1), match.group(2)
        if token[-1] in "'’" and len(token) > 2:
            return token[:-1], token[-1]
    return (token,)
