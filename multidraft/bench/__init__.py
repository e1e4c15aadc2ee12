"""Benchmarks behind ``multidraft bench``: each prints markdown tables and writes them with plots.

* :mod:`.fast` -- global resolution: time per token, batched throughput, speed-up vs max-flow;
* :mod:`.acceptance` -- optimal acceptance alpha* against k, n and temperature, baselines vs alpha*;
* :mod:`.table1` -- time per token, success and exact deviation of every method (Table 1 analogue);
* :mod:`.budget` -- best acceptance within a time budget per token (Table 2 analogue).

Shared pieces: :mod:`.common` (timing, machine line, tables, plots), :mod:`.limits` (time-limited
calls), :mod:`.methods` (the timed methods), :mod:`.deviation` (exact output-law deviation),
:mod:`.problems` (workloads and the published figures), :mod:`.options` (option parsing).
See docs/benchmarks.md for the commands and the measured tables.
"""
