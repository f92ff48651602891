"""Length bucketing by token budget: batches of similar-length sentences whose padded size stays
within a number of tokens. Training (`tagger.training.sampler`: resumable, shuffling, DDP-aware)
and prediction (sentences sorted by length) both cut their batches with `token_budget_batches`.
"""

from __future__ import annotations

from collections.abc import Sequence


def token_budget_batches(order: Sequence[int], lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Cut `order` (sentence indices, usually sorted by length) into consecutive batches whose
    longest sentence times their size stays within `max_tokens`; a longer sentence goes alone."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        longest_if_added = max(longest, lengths[index])
        if current and longest_if_added * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest_if_added = [], lengths[index]
        current.append(index)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches
