"""Executors: who runs :meth:`BlockWorker.write_part` for each block.

* :func:`run_in_process`: this process, block after block.
* :func:`run_local_workers`: ``--workers N`` processes on this machine (a process pool; a worker
  that dies is replaced and its block retried).
* :func:`run_ray`: Ray actors that load the model once each, on a private local cluster started
  for the job (``local``) or on an existing cluster (``auto``, ``host:port``, ``ray://...``);
  Ray restarts a killed actor and retries its block.

Every executor renders the same block specs with the same function into the same part files, so
the pixels are identical whichever runs them. ``on_done(name)`` is called in the driver as each
block finishes.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Sequence

from engine.errors import EngineError, ParameterError, ResourceError
from engine.pipeline.block import BlockWorker, Job, check_cancel
from engine.pipeline.plan import BlockSpec

OnDone = Callable[[str], None]
#: How often a block is retried after its worker process died.
RETRIES = 3
#: Root of the engine package, put on every worker's import path.
ENGINE_ROOT = str(Path(__file__).resolve().parents[2])


def run_in_process(worker: BlockWorker, blocks: Sequence[BlockSpec], on_done: OnDone,
                   cancel: threading.Event | None = None) -> None:
    for block in blocks:
        check_cancel(cancel)
        on_done(worker.write_part(block))


# ---------------------------------------------------------------------------------------------
# Local worker processes

_worker: BlockWorker | None = None


def _init_local(job: Job, threads: int) -> None:
    global _worker
    _die_with_parent()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    _worker = BlockWorker(job, threads=threads)


def _local_task(block: BlockSpec) -> str:
    assert _worker is not None
    return _worker.write_part(block)


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the driver dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_local_workers(job: Job, blocks: Sequence[BlockSpec], workers: int, threads: int,
                      on_done: OnDone, cancel: threading.Event | None = None) -> None:
    """Render ``blocks`` in ``workers`` fresh processes (spawned: no state shared with the
    driver's torch threads), each loading the model once."""
    todo = {b.name: b for b in blocks}
    attempts = 0
    while todo:
        ctx = mp.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                      initializer=_init_local, initargs=(job, threads))
        try:
            futures = {pool.submit(_local_task, b): name for name, b in todo.items()}
            for fut in cf.as_completed(futures):
                check_cancel(cancel)
                try:
                    name = fut.result()
                except cf.process.BrokenProcessPool:
                    break  # a worker died: start a new pool for what is left
                del todo[name]
                on_done(name)
        finally:
            _stop_pool(pool)
        if todo:
            attempts += 1
            if attempts > RETRIES:
                raise ResourceError(f"worker processes died {attempts} times (out of memory?): "
                                    "use fewer --workers or a smaller --tile")


def _stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Shut the pool down now, ending workers that are still rendering (cancel, errors)."""
    procs = list(getattr(pool, "_processes", {}).values())  # no public handle in Python 3.11
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# Ray


class BlockActor:
    """A Ray actor holding one :class:`BlockWorker` (the model loaded once)."""

    def __init__(self, job: Job, threads: int) -> None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "GDAL_NUM_THREADS"):
            os.environ[var] = str(threads)
        self.worker = BlockWorker(job, threads=threads)

    def process(self, block: BlockSpec) -> str:
        return self.worker.write_part(block)


def run_ray(job: Job, blocks: Sequence[BlockSpec], address: str, workers: int, threads: int,
            on_done: OnDone, cancel: threading.Event | None = None) -> None:
    """Render ``blocks`` on ``workers`` Ray actors at ``address`` (``local``: a private
    cluster started here for this job and shut down at the end)."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise ParameterError("--ray needs the 'ray' package in the engine's Python: "
                             "pip install ray==2.60.0 (or run without --ray)") from None
    local = address == "local"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    runtime_env = {"env_vars": {"PYTHONPATH": _pythonpath()}}
    temp_dir = None
    try:
        if local:
            # A private test/laptop cluster: no token (nothing outside this machine talks to
            # it), a short temp dir (Unix socket paths are limited to 107 bytes).
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            temp_dir = tempfile.mkdtemp(prefix="arbsr-ray-", dir="/tmp")
            ray.init(num_cpus=workers * threads, include_dashboard=False,
                     object_store_memory=100 * 2**20, _temp_dir=temp_dir, log_to_driver=False,
                     runtime_env=runtime_env, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env,
                     configure_logging=False)
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises many types; one clear line for all
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ParameterError(f"cannot reach the Ray cluster '{address}' ({first}): start it "
                             "with 'ray start --head' or use --ray local") from None
    try:
        actor_cls = ray.remote(num_cpus=threads, max_restarts=RETRIES,
                               max_task_retries=RETRIES)(BlockActor)
        actors = [actor_cls.remote(job, threads) for _ in range(min(workers, len(blocks)))]
        pool = ActorPool(actors)
        for name in pool.map_unordered(lambda a, b: a.process.remote(b), list(blocks)):
            check_cancel(cancel)
            on_done(name)
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001
        cause = getattr(exc, "cause", None)
        if isinstance(cause, EngineError):
            raise cause from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ResourceError(f"the Ray job failed ({first}): see the Ray logs; finished blocks "
                            "are kept, run again with --resume") from None
    finally:
        ray.shutdown()
        if temp_dir:
            import shutil

            shutil.rmtree(temp_dir, ignore_errors=True)


def _pythonpath() -> str:
    parts = [ENGINE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parts))


__all__ = ["BlockActor", "run_in_process", "run_local_workers", "run_ray"]
