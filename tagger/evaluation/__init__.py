"""Scoring: metrics (CoNLL 2018 accuracies, seqeval spans) and the one evaluate path."""
