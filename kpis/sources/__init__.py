"""Sources: data that arrives on its own, read on a schedule through the one import runner.

- ``config``: the ``[[source]]`` tables of config.toml, validated;
- ``read``: a source's table(s): a database query or table (read-only, with a time-out, the password from the
  environment) or the files of a path / glob not imported yet (oldest first; a file still being written waits);
- ``run``: one run of a source (a lock row against a second run, the import runner, a record of the run);
- ``watch``: each source at its cron schedule.
"""
