"""``--worst-per-slice``: the worst samples of every slice at once, found by thresholds
per slice so that a chunk costs what its candidates cost. No click, no rich."""

from __future__ import annotations

from typing import Any

import numpy as np

from losscli.stats.analysis import WorstK, rank_keys, taken


class GroupedWorst:
    """``--worst-per-slice``: the ``k`` worst samples of every slice at once, ties by row index
    as ``WorstK``; merged in any order.

    Each slice's k-th kept sample is its threshold: a chunk's rows are first compared with
    their slice's threshold, and only those that beat it (candidates) are kept, in a buffer.
    The buffer is merged into the kept samples (one sort) once it is as long as they are, so
    a chunk costs what its candidates cost, and the sorting adds up to a few sorts of what is
    kept. Thresholds only tighten at a merge: until then more rows pass, never fewer.
    """

    #: A buffer this short is never merged on its own.
    MIN_BUFFER = 1 << 16

    def __init__(self, k: int) -> None:
        self.k = k
        self.keys: list[tuple[Any, ...]] = []  # slice number -> key
        self._numbers: dict[tuple[Any, ...], int] = {}
        #: Every slice's kept samples (``FIELDS`` and their ``slice`` number), by slice,
        #: worst first, as of the last merge; then the candidates since, in any order.
        self.kept: dict[str, np.ndarray] = {}
        self.buffer: list[dict[str, np.ndarray]] = []
        self.buffered = 0
        #: By slice number: the k-th kept sample's sort key and row (a sample must come
        #: before it to enter); an infinite key and the largest row while fewer are kept.
        self.threshold_key = np.empty(0)
        self.threshold_row = np.empty(0, dtype=np.int64)
        self.count = np.empty(0, dtype=np.int64)  # by slice: samples kept and buffered

    def _number(self, keys: list[tuple[Any, ...]]) -> np.ndarray:
        for key in keys:
            if key not in self._numbers:
                self._numbers[key] = len(self.keys)
                self.keys.append(key)
        grow = len(self.keys) - len(self.threshold_key)
        if grow:
            self.threshold_key = np.concatenate([self.threshold_key, np.full(grow, np.inf)])
            last = np.full(grow, np.iinfo(np.int64).max)
            self.threshold_row = np.concatenate([self.threshold_row, last])
            self.count = np.concatenate([self.count, np.zeros(grow, dtype=np.int64)])
        return np.array([self._numbers[key] for key in keys], dtype=np.int64)

    def update(
        self, codes: np.ndarray, keys: list[tuple[Any, ...]], samples: dict[str, np.ndarray]
    ) -> None:
        """A chunk's samples (``FIELDS``), row i in slice ``keys[codes[i]]``."""
        self._add({**samples, "slice": self._number(keys)[codes]})

    def merge(self, other: GroupedWorst) -> None:
        numbers = self._number(other.keys)
        for part in (other.kept, *other.buffer):
            if part:
                self._add({**part, "slice": numbers[part["slice"]]})

    def shift(self, first_row: int) -> None:
        for part in (self.kept, *self.buffer):
            if part:
                part["row"] = part["row"] + first_row
        self.threshold_row[self.threshold_row < np.iinfo(np.int64).max] += first_row

    def _add(self, samples: dict[str, np.ndarray]) -> None:
        """The samples that beat their slice's threshold, into the buffer."""
        if not len(samples["slice"]):
            return
        slices, rows = samples["slice"], samples["row"]
        keys = rank_keys(samples["loss"])
        bar = self.threshold_key[slices]
        beats = (keys < bar) | ((keys == bar) & (rows < self.threshold_row[slices]))
        if not beats.all():
            samples = taken(samples, np.flatnonzero(beats))
        if not len(samples["slice"]):
            return
        self.buffer.append(samples)
        self.buffered += len(samples["slice"])
        self.count += np.bincount(samples["slice"], minlength=len(self.count))
        kept = len(self.kept["slice"]) if self.kept else 0
        if self.buffered >= max(kept, self.MIN_BUFFER) and self.count.max() > self.k:
            self._merge_buffer()  # something to drop, and as much buffered as kept

    def _merge_buffer(self) -> None:
        """The buffer and the kept samples sorted together: each slice's first ``k`` kept,
        its k-th the new threshold."""
        if not self.buffer:
            return
        parts = [self.kept, *self.buffer] if self.kept else self.buffer
        samples = {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}
        self.buffer, self.buffered = [], 0
        keys, rows, slices = rank_keys(samples["loss"]), samples["row"], samples["slice"]
        by_slice = np.argsort(slices.astype(_smallest(len(self.keys))), kind="stable")
        bounds = np.searchsorted(slices[by_slice], np.arange(len(self.keys) + 1)).tolist()
        if len(samples["row"]) >= 256 * len(self.keys):
            # Long slices: a sort each (in cache) costs a fraction of one sort of them all.
            runs = [by_slice[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
            order = np.concatenate([run[np.lexsort((rows[run], keys[run]))] for run in runs])
        else:
            order = np.lexsort((rows, keys, slices))
        rank = np.arange(len(order)) - np.repeat(bounds[:-1], np.diff(bounds))
        self.kept = taken(samples, order[rank < self.k])
        np.minimum(self.count, self.k, out=self.count)
        kth = order[rank == self.k - 1]
        self.threshold_key[slices[kth]] = keys[kth]
        self.threshold_row[slices[kth]] = rows[kth]

    def rekey(self, typed: dict[tuple[Any, ...], tuple[Any, ...]]) -> None:
        """Slices' keys replaced (``LossAccumulator.rekey``): slices that become one keep
        their ``k`` worst samples together."""
        self._merge_buffer()
        old, kept = self.keys, self.kept
        self.keys, self._numbers, self.kept = [], {}, {}
        self.threshold_key = np.empty(0)
        self.threshold_row = np.empty(0, dtype=np.int64)
        self.count = np.empty(0, dtype=np.int64)
        numbers = self._number([typed.get(key, key) for key in old])
        if kept:
            self._add({**kept, "slice": numbers[kept["slice"]]})

    def result(self, key: tuple[Any, ...]) -> list[dict[str, Any]]:
        """The slice's worst samples, largest first (as ``WorstK.result``)."""
        self._merge_buffer()  # the kept samples by slice, worst first
        number = self._numbers.get(key)
        if number is None or not self.kept:
            return []
        start, end = np.searchsorted(self.kept["slice"], [number, number + 1])
        one = WorstK(self.k)
        one.kept = {field: values[start:end] for field, values in self.kept.items()}
        return one.result()


def _smallest(count: int) -> type[np.signedinteger[Any]]:
    """The smallest integer type of ``count`` numbers (a stable sort of int16 is a radix
    sort)."""
    return np.int16 if count <= 2**15 else np.int32 if count <= 2**31 else np.int64
