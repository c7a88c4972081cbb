"""From named inputs to results: plan (open the inputs, align their blocks into chunks),
map (every loss's partial sums of a chunk, a pure function), merge (exact, order-free) and
assemble the results, on one of three schedulers over the same pieces: in order on this
machine, file by file (parts), or on a Dask cluster.

Imports the layers below (losses, io, stats); never click, rich or the report formats.
"""

from losscli.engine.inputs import InputSpec
from losscli.engine.results import Evaluation, Result
from losscli.engine.schedule import evaluate

__all__ = ["Evaluation", "InputSpec", "Result", "evaluate"]
