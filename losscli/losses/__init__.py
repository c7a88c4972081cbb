"""Keras semantics: the per-sample loss functions, one class per loss holding all its facts
(the registry ``LOSSES`` and ``get``), spec strings such as ``"huber(delta=2)"``, and Keras'
reductions and sample weights.

``from losscli import losses`` is the public face, as ``keras.losses`` is Keras': the same
names (``MeanSquaredError``, ``mean_squared_error``, ``get``, ...). No I/O and no statistics
here: this package imports only numpy and ``losscli.errors``.
"""

from losscli.losses.classes import *  # noqa: F403
from losscli.losses.classes import __all__ as __all__
