"""Run the system's programs on this machine: for the tests, the benchmarks and ``make demo``.

:mod:`devtools.processes` is the one way to start and stop a child program;
:mod:`devtools.localredis` and :mod:`devtools.sandbox_process` start a
throwaway Redis and a sandbox with it; :mod:`devtools.demo` is ``make demo``,
``make up`` and ``make down``. The programs themselves never import this
package, and neither does the sandbox, which stays the stand-in only.
"""
