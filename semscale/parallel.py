"""Run numpy work on row chunks in a few threads: BLAS and large ufunc loops release the GIL, so distance blocks and
scatter updates use every core instead of one (most of numpy's elementwise work is single-threaded). The per-matrix
Choleskys of volume.py (scipy's LAPACK wrapper, faster a call than numpy's batched one) gain less: measured 1.3x on
2 threads.

While the chunks run, numpy's BLAS is held to one thread: each chunk is small, and a multi-threaded BLAS inside
several Python threads oversubscribes the cores (measured 2-3x slower on 2 cores).

SEMSCALE_THREADS=1 means one thread everywhere: the first numeric module of semscale imported then also holds the BLAS libraries that numpy and
scipy loaded (OpenBLAS, MKL, ...) to one thread for the whole process (hold_blas_to_setting).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_executor: ThreadPoolExecutor | None = None
_executor_pid = None  # a forked child (a data loader worker) inherits the executor but not its threads
_controller = None


def hold_blas_to_setting() -> bool:
    """With SEMSCALE_THREADS=1, limit every BLAS library loaded so far to one thread, process-wide (threadpoolctl).
    Returns whether it did. Called when semscale.arrays is imported, i.e. by the first use of any numeric module (`import semscale` alone
    is lazy and loads none)."""
    if os.environ.get("SEMSCALE_THREADS", "").strip() != "1":
        return False
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    _controller.limit(limits=1, user_api="blas")  # not used as a context: the limit stays
    return True


def workers() -> int:
    """Threads for chunked numpy work: SEMSCALE_THREADS, else the usable cores, at most 4."""
    configured = os.environ.get("SEMSCALE_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def map_chunks(function, total: int, chunk: int, min_parallel: int) -> list:
    """[function(start, stop) for consecutive chunks of range(total)], in threads when total >= min_parallel.

    Below min_parallel the thread hand-off costs more than it saves (tens of microseconds), so it runs inline.
    """
    bounds = [(start, min(start + chunk, total)) for start in range(0, total, chunk)]
    if total < min_parallel or len(bounds) < 2:
        return [function(start, stop) for start, stop in bounds]
    threads = workers()
    if threads == 1:
        return [function(start, stop) for start, stop in bounds]
    global _executor, _executor_pid, _controller
    if _executor is None or _executor._max_workers != threads or _executor_pid != os.getpid():
        _executor, _executor_pid = ThreadPoolExecutor(threads, thread_name_prefix="semscale"), os.getpid()
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        return list(_executor.map(lambda b: function(*b), bounds))
