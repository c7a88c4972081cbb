"""losscli: Keras-exact loss values from files, on the command line and in Python."""

__version__ = "0.1.0"
