"""losscli: Keras-exact loss values from files, on the command line and in Python."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``losscli.to_categorical``, ``losscli.evaluate`` and ``losscli.Report``, imported on
    first use: ``losscli --version`` stays light."""
    if name == "to_categorical":
        from losscli.losses.functions import to_categorical

        return to_categorical
    if name in ("evaluate", "Report"):
        from losscli import api

        return getattr(api, name)
    raise AttributeError(f"module 'losscli' has no attribute {name!r}")
