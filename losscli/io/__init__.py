"""Input and output: the readers (one per format, behind ``open_source``), object storage
(``s3://`` and other pyarrow filesystems), and the writers of per-sample losses, reports and
Parquet datasets.

Knows files, bytes and tables, never losses: imports only pyarrow, numpy and ``losscli.errors``
/ ``losscli.text``.
"""
