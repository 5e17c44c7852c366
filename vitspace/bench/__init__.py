"""Benchmarks: latency and throughput of every variant of a model against the peers. `variants` holds every
benchmark variant, `timing` how they are timed, `report` the results and their files, `markdown` their tables
and text for people, `run` the runs themselves. `python -m vitspace.bench` is the command."""
