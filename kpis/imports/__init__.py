"""One import pipeline for every kind of data (KPI actuals, demand, forecasts, actions, assessments, meetings,
decisions).

- ``problems``: a problem with file, row and column; problems grouped; the collector; ``ImportFailed``.
- ``read``: one reader for CSV, Excel and Parquet files (one set of messages for every kind).
- ``cells``: text and number cells.
- ``source``: where a table came from (a file, a database query, a folder) and its content digest.
- ``result``: the one result type of every import.
- ``runner``: ``run_import`` owns the chain (check, digest, earlier identical import, batch, write, audit, retry);
  each kind supplies only its columns, ``parse`` and ``write``.

Every problem is reported with file, row and column; a table with any problem writes nothing; importing the same
content again changes nothing.
"""
