"""Compression: deployable files of a model, each measured against eager fp32 (`build`, `fidelity`), their
record (`manifest`) and its tables and text for people (`report`), and Classify's fast path, which runs the
fastest file that passes here, as timed (`fastest`, `fastpath`), the build cache's disk budget (`cache`), and
builds in a child process for a process that runs for weeks (`apart`, whose child is `child`).
`python -m vitspace.compress` is the command; `python -m vitspace.compress.clean` reports and cleans the cache."""
