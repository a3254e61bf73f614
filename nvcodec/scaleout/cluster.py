"""Where the tasks run: on Ray (a local Ray nvc starts, or a running cluster it joins), or in this process.

Ray is imported here only, and only when a :class:`RayExecutor` is made; without it, asking for
workers is one line naming the extra that brings it (:class:`RayUnavailable`).

Both executors have one small interface (:meth:`submit`, :meth:`wait`, :meth:`result`,
:meth:`cancel`, :meth:`tally`), so the drivers in :mod:`nvcodec.scaleout.drivers` are one code path
whichever runs them, and the in-process one tests that path without Ray.

Every Ray task runs the numerics profile the stream is coded in: its environment variables go to
the worker with the task (Ray's ``runtime_env``), before the worker imports torch, and
:func:`nvcodec.numerics.pinned` checks them there as it does in one process.  A task whose worker
dies (the process killed, the machine lost) is retried up to :data:`RETRIES` times: tasks are
idempotent, each writes its result under a temporary name renamed when complete.  A task that
raises (bad input) is not retried: it would fail the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nvcodec.errors import NvcError
from nvcodec.numerics import SCHEDULING_ENV, get_profile

RETRIES = 3
EXTRA_HINT = "pip install 'nvcodec[ray]'"


class RayUnavailable(NvcError):
    """Workers were asked for and Ray is not installed."""


class WorkerLost(NvcError):
    """A task's worker died on every attempt (or the cluster went away)."""


def require_ray() -> Any:
    """The ``ray`` module, or :class:`RayUnavailable` naming the extra."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"--workers runs chunks on Ray, which is not installed: {EXTRA_HINT}") from None
    return ray


def worker_env(numerics: str) -> dict[str, str]:
    """The variables a worker needs before it imports torch: the profile's and the scheduling ones."""
    env = dict(get_profile(numerics).env)
    for key, value in SCHEDULING_ENV.items():
        env[key] = os.environ.get(key, value)
    return env


class LocalTally:
    """Frames and bytes done per chunk (or input), reported by tasks, summed by the driver."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[int, int]] = {}

    def report(self, key: int, frames: int, size: int) -> None:
        self._done[key] = (frames, size)

    def snapshot(self) -> dict[int, tuple[int, int]]:
        return dict(self._done)


@dataclass
class Handle:
    """A submitted task: Ray's object reference, or the call an :class:`InlineExecutor` makes when asked."""

    key: int
    ref: Any = None
    call: Callable[[], Any] | None = None
    outcome: tuple[bool, Any] | None = field(default=None, repr=False)


class InlineExecutor:
    """Runs each task in this process when its result is first waited for: one worker, no Ray.

    Used by ``nvc batch`` without ``--workers`` and by the tests of the drivers' logic.
    """

    workers = 1
    shares_files = True  # tasks write where the driver reads

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._tally = LocalTally()

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, key: int, fn: Callable[..., Any], *args: Any) -> Handle:
        return Handle(key, call=lambda: fn(*args))

    def wait(self, handles: list[Handle], timeout: float) -> list[Handle]:
        """The handles done: here always the oldest, run now."""
        if not handles:
            return []
        handle = handles[0]
        self._run(handle)
        return [handle]

    def result(self, handle: Handle) -> Any:
        self._run(handle)
        assert handle.outcome is not None
        ok, value = handle.outcome
        if not ok:
            raise value
        return value

    def _run(self, handle: Handle) -> None:
        if handle.outcome is None:
            assert handle.call is not None
            try:
                handle.outcome = (True, handle.call())
            except Exception as exc:  # kept for result(), which raises it where the driver asks
                handle.outcome = (False, exc)

    def cancel(self, handles: list[Handle]) -> None:
        pass

    def tally(self) -> Any:
        return self._tally

    def progress(self) -> dict[int, tuple[int, int]]:
        return self._tally.snapshot()


class RayExecutor:
    """Tasks on Ray: a local Ray with ``workers`` CPUs that nvc starts (and stops), or the cluster at
    ``address`` (``auto``, ``ray://host:10001``), where at most ``workers`` tasks are in flight (None:
    as many as the cluster has CPUs).

    A Ray already started in this process (a test, a notebook) is used as it is and left running.
    Each task asks for one CPU, so a local Ray runs ``workers`` at once; ``threads`` is each task's share
    of this machine's cores (FFmpeg's decoder, and torch where the numerics profile leaves it free),
    None on a cluster, whose machines nvc does not know.
    """

    def __init__(self, workers: int | None, numerics: str, address: str | None = None) -> None:
        self.ray = require_ray()
        self.workers = workers or (1 if address is None else 0)
        self.address = address
        self.numerics = numerics
        self.threads = max(1, (os.cpu_count() or 1) // self.workers) if address is None else None
        self._owned = False
        self._tally_actor: Any = None
        self._remotes: dict[Callable[..., Any], Any] = {}
        # pieces go through files when the workers share this machine's disk, else through the object store
        self.shares_files = address is None

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
            if self.address is None:
                # "local": a Ray of nvc's own, even where `ray start` left a cluster that plain init would join
                options.update(address="local", num_cpus=self.workers, include_dashboard=False)
            else:
                options["address"] = self.address
            if self.address is not None:
                _check_reachable(self.address)
            with _keep_signal_handlers(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Ray's client warns before it raises; the error says it once
                try:
                    ray.init(**options)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    where = self.address or "a local Ray"
                    raise WorkerLost(f"cannot start or reach {where}: {_first_line(exc)}") from None
            self._owned = True
        else:
            self.shares_files = self.shares_files and _is_local(ray)
        if not self.workers:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        """Release the tally actor and, when nvc started or joined this Ray, leave it (once)."""
        if self._tally_actor is not None:
            # the cluster may be gone already: nothing to release then
            with contextlib.suppress(Exception):
                self.ray.kill(self._tally_actor)
            self._tally_actor = None
        if self._owned:
            self.ray.shutdown()
            self._owned = False

    def _remote(self, fn: Callable[..., Any]) -> Any:
        remote = self._remotes.get(fn)
        if remote is None:
            remote = self.ray.remote(fn).options(
                num_cpus=1, max_retries=RETRIES, retry_exceptions=False,
                runtime_env={"env_vars": worker_env(self.numerics)})
            self._remotes[fn] = remote
        return remote

    def submit(self, key: int, fn: Callable[..., Any], *args: Any) -> Handle:
        return Handle(key, ref=self._remote(fn).remote(*args))

    def wait(self, handles: list[Handle], timeout: float) -> list[Handle]:
        if not handles:
            return []
        by_ref = {h.ref: h for h in handles}
        done, _ = self.ray.wait(list(by_ref), num_returns=len(by_ref), timeout=timeout, fetch_local=False)
        return [by_ref[r] for r in done]

    def result(self, handle: Handle) -> Any:
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(handle.ref)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise NvcError(_first_line(exc)) from None
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError,
                exceptions.OwnerDiedError) as exc:
            raise WorkerLost(f"task {handle.key}: its worker died {RETRIES + 1} times ({type(exc).__name__})"
                             ) from None
        except exceptions.TaskCancelledError:
            raise KeyboardInterrupt from None

    def cancel(self, handles: list[Handle]) -> None:
        """Stop the tasks of a job the driver is giving up (Ctrl-C, an error), before it removes their files.

        On a Ray that nvc started or joined, this ends the connection at once: Ray stops every task of a
        job whose driver has gone, and nothing asks Ray to cancel a task that may be finishing just
        then, which in Ray 2.x can abort the driver itself (its task manager's check that the task is
        still pending fails, a known race).  On a Ray started by someone else (a notebook, a test),
        which must stay up, only the tasks not yet done are cancelled, which leaves that race a
        much narrower window.
        """
        if not handles:
            return
        if self._owned:
            self._close()
            return
        refs = [handle.ref for handle in handles]
        with contextlib.suppress(Exception):  # a cluster already gone has nothing left to stop
            _, running = self.ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
            for ref in running:
                with contextlib.suppress(Exception):  # one that finished or vanished meanwhile
                    self.ray.cancel(ref, force=True)

    def tally(self) -> Any:
        """A small actor the tasks tell their progress to (no CPU of its own)."""
        if self._tally_actor is None:
            self._tally_actor = self.ray.remote(LocalTally).options(num_cpus=0).remote()
        return self._tally_actor

    def progress(self) -> dict[int, tuple[int, int]]:
        """(frames, bytes) done per key, as the tasks last reported."""
        if self._tally_actor is None:
            return {}
        return self.ray.get(self._tally_actor.snapshot.remote())


#: seconds to wait for a cluster's port to answer before saying it does not
CONNECT_TIMEOUT = 10.0


def _auto_address() -> str | None:
    """Where ``auto`` points, found as Ray finds it: ``RAY_ADDRESS``, else the cluster ``ray start`` last
    recorded on this machine (a file that outlives a stopped cluster)."""
    found = os.environ.get("RAY_ADDRESS")
    if found:
        return found
    import tempfile

    record = os.path.join(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir(), "ray", "ray_current_cluster")
    try:
        with open(record, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None  # none recorded: Ray says so itself, at once


def _check_reachable(address: str) -> None:
    """One line when ``HOST:PORT`` (a head's GCS, or ``ray://HOST:PORT``) does not answer: Ray itself would
    retry a head that is not there for ever."""
    import socket

    if address == "auto":
        address = _auto_address() or ""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise WorkerLost(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """Put back this process's Ctrl-C and SIGTERM handlers after Ray's start replaced them.

    Ray's core installs a crash reporter for SIGTERM that logs a stack and exits 1; nvc's handler
    unwinds instead, so the driver cancels its tasks, removes its temporary files and exits 255.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


def _is_local(ray: Any) -> bool:
    """Whether every node of the running Ray is this machine (then tasks can write where the driver reads)."""
    try:
        import socket

        here = {socket.gethostname()}
        return all(node.get("NodeManagerHostname") in here for node in ray.nodes() if node.get("Alive"))
    except Exception:  # noqa: BLE001 - when unsure, ship results through the object store, which always works
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def wait_some(executor: InlineExecutor | RayExecutor, handles: list[Handle], timeout: float = 0.25) -> list[Handle]:
    """The handles that are done, waiting at most ``timeout`` seconds for one (the driver redraws meanwhile)."""
    t0 = time.monotonic()
    done = executor.wait(handles, timeout)
    if not done and time.monotonic() - t0 < timeout / 2:
        time.sleep(timeout / 2)
    return done
