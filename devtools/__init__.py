"""Run the system's programs on this machine: for the tests, the benchmarks and ``make demo``.

:mod:`devtools.processes` is the one way to start and stop a child program;
:mod:`devtools.localredis` and :mod:`devtools.sandbox_process` start a
throwaway Redis and a sandbox with it; :mod:`devtools.programs` starts
the listener, workers, beat and Flower, and :mod:`devtools.cluster` the whole
stack on free ports (the fault matrix, ``make chaos``); :mod:`devtools.demo` is ``make demo``,
``make up`` and ``make down``, with :mod:`devtools.scenario` (the seed's
conversation) and :mod:`devtools.interrupts` (stop signals as one
exception). The programs themselves never import this
package, and neither does the sandbox, which stays the stand-in only.
"""
