"""Independent tasks run here or on a ``dask.distributed`` client, handed back with their task index.

The resampling and simulation methods that accept ``client=`` (:meth:`RandomizedTrial.diagnose
<evalkit.RandomizedTrial.diagnose>`, :class:`~evalkit.inference.RandomizationInference`) split their work into
tasks ``function(shared, *args)`` whose results depend on nothing but their arguments (each task carries its own
seed, spawned from the run's seed by task index). :func:`run_tasks` runs them serially or on a client, so that
the two paths share one loop: on a client the big read-only ``shared`` object (the simulator, the randomization
engine with its data) is scattered to every worker once, the tasks are mapped over it, and each result is handed
back with its index as it completes, for the caller to put in task order. The numbers are therefore the same, bit
for bit, wherever the tasks run.

dask is an optional extra (``pip install evalkit[dask]``): nothing here imports it unless a client is given, and
then only ``distributed.as_completed`` (the client exists, so ``distributed`` is installed). No process pool of
our own: where the work outgrows one machine, dask schedules it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from evalkit.errors import OptionError
from evalkit.inference._progress import progress_bar

__all__ = ["check_client", "client_threads", "describe_client", "run_tasks"]

_CLIENT_METHODS = ("scatter", "map", "gather", "scheduler_info")


def check_client(client: object, where: str = "client") -> None:
    """Raise :class:`~evalkit.errors.OptionError` unless ``client`` is None or looks like a dask Client.

    A client is recognised by its methods (``scatter``, ``map``, ``gather``, ``scheduler_info``), so that
    ``distributed`` need not be imported to check it.
    """
    if client is None:
        return
    if not all(callable(getattr(client, name, None)) for name in _CLIENT_METHODS):
        raise OptionError(
            f"{where}={client!r} is not a dask.distributed Client; pass dask.distributed.Client(...) (install the "
            f"extra with `pip install evalkit[dask]`) or {where}=None to run here."
        )


def _workers(client: Any) -> dict[str, Any]:
    try:
        return dict(client.scheduler_info().get("workers", {}))
    except Exception:  # a client that cannot describe itself still runs the tasks
        return {}


def describe_client(client: Any) -> str:
    """``"serial"`` for None, else ``"dask client with N worker(s)"`` (what results record as how they ran)."""
    if client is None:
        return "serial"
    workers = _workers(client)
    return f"dask client with {len(workers)} worker(s)" if workers else "dask client"


def client_threads(client: Any) -> int:
    """Tasks the client can run at once (its workers' threads; 1 serially or when unknown)."""
    if client is None:
        return 1
    threads = sum(int(w.get("nthreads", 1) or 1) for w in _workers(client).values())
    return max(threads, 1)


def run_tasks(
    function: Callable[..., Any],
    shared: Any,
    tasks: Sequence[tuple[Any, ...]],
    *,
    client: Any = None,
    size_of: Callable[[int], int] | None = None,
    show: bool = False,
    desc: str = "",
    unit: str = "draw",
) -> Iterator[tuple[int, Any]]:
    """Yield ``(k, function(shared, *tasks[k]))`` for every task: in order here, as completed on a client.

    Parameters
    ----------
    function : callable
        A module-level function (dask pickles it by reference) of ``shared`` and a task's arguments; its result
        must depend on nothing else.
    shared : object
        The read-only object every task reads (picklable when ``client`` is a cluster of processes); sent to
        every worker once (``client.scatter(..., broadcast=True)``).
    tasks : sequence of tuples
        The arguments of each task after ``shared``. Serially it is read lazily, task by task (it may be a
        sequence that computes its items, so that a run refused after its first task never lists them all).
    client : dask.distributed.Client, optional
        Where to run; None runs here, one task after another.
    size_of : callable, optional
        ``size_of(k)``: units of work of task ``k`` (draws, simulations), for the progress bar; 1 by default.
    show, desc, unit
        Progress bar (``tqdm.auto``) over the total work, advanced as tasks complete.

    Yields
    ------
    (int, object)
        The task's index in ``tasks`` and its result. Serially the tasks run lazily, in order, as the caller
        iterates; on a client they are all submitted at once and yielded in the order they finish, so the
        caller places each result by its index. Closing the iterator early (an exception in the caller)
        cancels the tasks still pending on the client.
    """
    check_client(client)
    weight = size_of if size_of is not None else _one
    total = sum(weight(k) for k in range(len(tasks))) if show else 0
    with progress_bar(total, show, desc, unit=unit) as update:
        if client is None:
            for k in range(len(tasks)):
                result = function(shared, *tasks[k])
                update(weight(k))
                yield k, result
            return
        from distributed import as_completed  # the client exists, so distributed is installed

        handle = client.scatter(shared, broadcast=True, hash=False)
        columns = [list(c) for c in zip(*(tasks[k] for k in range(len(tasks))), strict=True)]
        futures = client.map(function, [handle] * len(tasks), *columns, pure=False)
        index = {f.key: k for k, f in enumerate(futures)}
        try:
            for future, result in as_completed(futures, with_results=True):
                k = index[future.key]
                update(weight(k))
                yield k, result
        finally:
            client.cancel([*futures, handle])


def _one(k: int) -> int:
    return 1
