"""Batch grading: every student's submission to one or more exercises, resumable.

- :mod:`~ipcgrader.batch.inputs`: find each student's folder or zip and unpack it safely;
- :mod:`~ipcgrader.batch.planning`: the (student, exercise) jobs and the hashes that say
  whether a grading already in the gradebook is still current;
- :mod:`~ipcgrader.batch.runner`: decide what to grade and record each grading, once;
- :mod:`~ipcgrader.batch.executors`: where gradings are made (threads here, or a Dask
  cluster through :mod:`~ipcgrader.batch.cluster`), behind one small interface;
- :mod:`~ipcgrader.batch.gradebook`: the SQLite gradebook, the batch's one source of truth;
- :mod:`~ipcgrader.batch.exports`: CSV, JSON, JUnit and the summary, made from the gradebook;
- :mod:`~ipcgrader.batch.progress`: the live bar or plain progress lines.

The command line of it is :mod:`ipcgrader.cli.batch`.
"""
