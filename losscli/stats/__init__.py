"""Statistics as mergeable accumulators: the bootstrap (``bootstrap``: per-bucket sums, their
replicates and intervals, over the row buckets and Poisson weights of ``resample``), slices
(the rows of one group-by key: ``slicing``), the worst samples and the distribution of
per-sample losses (``analysis``), and the noise-aware gate decisions built on them.

Each accumulator adds a chunk, merges with another in any order, and gives a result, so the
local and cluster engines give one answer. Imports ``losscli.losses`` (Keras' reductions) and
``losscli.io`` (group codes of a table column), nothing above.
"""
