"""Queue order for each fetch: strict (as listed) or weighted random (Sidekiq's shuffle-then-uniq).

With weights, a queue of weight w is tried first with probability w / sum of weights, so busy
high-weight queues cannot starve the others completely.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


class QueueOrder:
    def __init__(self, queues: Sequence[tuple[str, int]], *, strict: bool) -> None:
        self.names = list(dict.fromkeys(name for name, _ in queues))
        weights: dict[str, int] = {}
        for name, weight in queues:
            weights[name] = weights.get(name, 0) + max(weight, 1)
        self.strict = strict or len(self.names) == 1
        self._expanded = [name for name in self.names for _ in range(weights[name])]
        self._equal = len(set(weights.values())) == 1
        self._rng = random.Random()

    def next(self) -> list[str]:
        """The queues to try for one fetch, in order."""
        if self.strict:
            return self.names
        if self._equal:
            order = list(self.names)
            self._rng.shuffle(order)
            return order
        expanded = list(self._expanded)
        self._rng.shuffle(expanded)
        return list(dict.fromkeys(expanded))
