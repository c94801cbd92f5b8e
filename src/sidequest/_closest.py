"""Close matches for the "did you mean" hints of error messages.

difflib loads on the first misspelt name, not at start: every module a worker imports stays in its
memory for good, and the idle worker's memory is a published figure (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence


def close_matches(word: str, known: Sequence[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The known names closest to word, best first (difflib's ratio of at least cutoff)."""
    import difflib

    return difflib.get_close_matches(word, known, n=n, cutoff=cutoff)
