"""Statistics as mergeable accumulators: Poisson bootstrap replicates and intervals, slices
(the rows of one group-by key), the worst samples, the distribution of per-sample losses, and
the noise-aware gate decisions built on them.

Each accumulator adds a chunk, merges with another in any order, and gives a result, so the
local and cluster engines give one answer. Imports ``losscli.losses`` (Keras' reductions) and
``losscli.io`` (group codes of a table column), nothing above.
"""
