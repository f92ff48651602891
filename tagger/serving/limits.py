"""What one request may ask of `tagger serve`: the limits and their defaults (the command's flags read them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """A body over `max_body_bytes` or a text over `max_text_chars` is answered 413; a request arriving
    while `max_in_flight` are being read, queued or tagged is answered 429."""

    max_body_bytes: int = 4 * 1024 * 1024  # as UDPipe 2's server
    max_text_chars: int = 1_000_000  # each text: about 200,000 words
    max_in_flight: int = 256
