"""``Forked``: run an iterator in a forked child process and stream its items back over a pipe.

A sync's fetch side (HTTP, JSON parsing, the paginator) and its load side (rows, database writes) each
keep a core busy on a large resource. As two threads of one process they take turns on the interpreter
lock. With the fetch side in a child process of its own, they run on two cores.

The child is forked from the task process after the hook has read its connection. It inherits the
client, the plan and the credentials as they are, so nothing secret is pickled or sent anywhere. What
the child does and does not do:

- It talks to the API and to nothing else of the task's. It does not use the database (``feed``
  brings it what the parent reads there) or Airflow's supervisor channel, which stays the parent's.
- Its log records, from stdlib logging and structlog alike, go to the parent over the pipe. The parent
  hands them to its own handlers, so they land in the task log through Airflow's secrets masker. A
  secret the child registers with the masker (a new OAuth2 token) is registered in the parent.
- An exception it raises is raised in the parent, with the child's traceback as its cause.
- It dies with its parent (``PR_SET_PDEATHSIG`` on Linux), is killed when the consumer stops early, and
  ends with ``os._exit``: it never runs the parent's exit handlers or flushes the parent's buffers.

Memory stays flat. The pipe holds about 1 MB and ``prefetched`` bounds what waits beyond it. The child
freezes the heap it inherited, so its garbage collector does not copy those pages.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Generic, NoReturn, TypeVar

from airflow_provider_restsync.errors import RestSyncError
from airflow_provider_restsync.hooks import masking

T = TypeVar("T")
C = TypeVar("C")

_HEADER = struct.Struct("!cI")
_ITEM, _LOG, _MASK, _ERROR, _DONE, _FEED, _FEED_END = b"I", b"L", b"M", b"E", b"D", b"F", b"X"
_REPORT = b"R"
_PIPE_BYTES = 1 << 20
_KILL_WAIT_SECONDS = 10.0


def can_fork() -> bool:
    """Whether this platform forks (Linux and macOS do, where Airflow's workers run)."""
    return hasattr(os, "fork") and sys.platform != "win32"


class ForkedProcessError(RestSyncError):
    """The child process ended without finishing or reporting an error (killed, out of memory)."""


class _RemoteTraceback(Exception):
    """The traceback of the exception in the child, shown as the cause of the one raised here."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class _Writer:
    """Frames to one pipe, whole frames at a time from any thread of the child."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        data = memoryview(_HEADER.pack(kind, len(payload)) + payload)
        with self.lock:
            while data:
                data = data[os.write(self.fd, data) :]


def _read_frame(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """The next frame, or None at the end of the pipe (also when it ends mid-frame)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    kind, size = _HEADER.unpack(header)
    payload = stream.read(size) if size else b""
    if len(payload) < size:
        return None
    return kind, payload


def _enlarge(fd: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[attr-defined]


class Forked(Generic[T]):
    """Items of ``produce`` computed in a forked child process, yielded here in order.

    :param produce: called in the child with the fed items (an iterator, or None without ``feed``);
        returns the items.
    :param pack: turns one item into bytes, in the child.
    :param unpack: turns those bytes back into an item, here.
    :param feed: items this process sends the child while it runs (a thread reads them; pickled). The
        child reads them as ``produce`` asks; a failure here ends the child and is raised here.
    :param name: names the child in log lines and the reading thread.
    :param report: what the child says last, after its items, whether it ends or fails: ``(make,
        take)``, ``make()`` in the child gives the bytes that ``take(data)`` gets here (counters the
        items carry too, which a failure before the first item would otherwise lose).

    The child is forked by :meth:`start` (or the first iteration). :meth:`close` kills it if it still
    runs and reaps it. Iterate once, from one thread.
    """

    def __init__(
        self,
        produce: Callable[[Iterator[Any] | None], Iterable[C]],
        *,
        pack: Callable[[C], bytes],
        unpack: Callable[[bytes], T],
        feed: Iterable[Any] | None = None,
        name: str = "restsync-fetch",
        report: tuple[Callable[[], bytes], Callable[[bytes], None]] | None = None,
    ) -> None:
        self._produce = produce
        self._report = report
        self._pack = pack
        self._unpack = unpack
        self._feed = feed
        self.name = name
        self.pid: int | None = None
        self._stream: BinaryIO | None = None
        self._feed_fd: int | None = None
        self._feeder: threading.Thread | None = None
        self._feed_error: BaseException | None = None
        self._stopping = threading.Event()
        self.exit_status: int | None = None

    # --- the parent ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.pid is not None:
            return
        data_read, data_write = os.pipe()
        feed_read, feed_write = os.pipe() if self._feed is not None else (-1, -1)
        _enlarge(data_write)
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice by the child
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(data_read)
            if feed_write >= 0:
                os.close(feed_write)
            self._child(data_write, feed_read)
        self.pid = pid
        os.close(data_write)
        if feed_read >= 0:
            os.close(feed_read)
        self._stream = open(data_read, "rb", buffering=_PIPE_BYTES)  # noqa: SIM115 - closed in close()
        if self._feed is not None:
            self._feed_fd = feed_write
            self._feeder = threading.Thread(target=self._send_feed, name=f"{self.name}-feed", daemon=True)
            self._feeder.start()

    def __iter__(self) -> Iterator[T]:
        self.start()
        assert self._stream is not None
        while True:
            frame = _read_frame(self._stream)
            if frame is None:
                self._raise_ended()
            kind, payload = frame
            if kind == _ITEM:
                yield self._unpack(payload)
            elif kind == _LOG:
                _emit(pickle.loads(payload))
            elif kind == _MASK:
                masking.mask_with_airflow(payload.decode())
            elif kind == _REPORT:
                if self._report is not None:
                    self._report[1](payload)
            elif kind == _ERROR:
                self._raise_error(payload)
            elif kind == _DONE:
                self._reap(block=True)
                return

    def close(self) -> None:
        """Kill the child if it still runs, reap it, and close the pipes (idempotent)."""
        self._stopping.set()
        if self.pid is not None:
            self._reap(block=False)
            if self.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self._reap(block=True)
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._close_feed()
        if self._feeder is not None:
            self._feeder.join(_KILL_WAIT_SECONDS)

    def _reap(self, *, block: bool) -> int | None:
        """The child's exit status once it ended (None while it runs)."""
        if self.pid is None:
            return None
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            return None
        self.pid = None
        self.exit_status = status
        return status

    def _raise_ended(self) -> NoReturn:
        if self._feed_error is not None:
            raise self._feed_error
        status = self._reap(block=True) if self.pid is not None else self.exit_status
        if status is not None and os.WIFSIGNALED(status):
            how = f"was killed by signal {os.WTERMSIG(status)}"
        elif status is not None:
            how = f"exited with status {os.WEXITSTATUS(status)}"
        else:
            how = "ended"
        raise ForkedProcessError(f"the {self.name} process {how} before it finished")

    def _raise_error(self, payload: bytes) -> NoReturn:
        if self._feed_error is not None:
            raise self._feed_error
        error, kind, message, trace = pickle.loads(payload)
        if not isinstance(error, BaseException):
            error = ForkedProcessError(f"{kind}: {message}")
        error.__cause__ = _RemoteTraceback(trace)
        raise error

    def _send_feed(self) -> None:
        assert self._feed is not None and self._feed_fd is not None
        writer = _Writer(self._feed_fd)
        try:
            for item in self._feed:
                if self._stopping.is_set():
                    return
                writer.send(_FEED, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
            writer.send(_FEED_END)
        except BrokenPipeError:
            pass  # the child ended: what it did is reported on the data pipe
        except OSError as exc:
            if not self._stopping.is_set():  # close() shuts the pipe while stopping
                self._feed_error = exc
        except BaseException as exc:  # the parent's own source failed: the child stops, this is raised
            self._feed_error = exc
        finally:
            self._close_feed()

    def _close_feed(self) -> None:
        fd, self._feed_fd = self._feed_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- the child -----------------------------------------------------------------------------

    def _send_report(self, writer: _Writer) -> None:
        if self._report is not None:
            writer.send(_REPORT, self._report[0]())

    def _child(self, data_fd: int, feed_fd: int) -> None:
        code = 1
        try:
            gc.freeze()  # the inherited heap: never scanned, so its pages stay shared
            _become_child()
            writer = _Writer(data_fd)
            _forward_logs(writer)
            masking.forward_masks(lambda value: writer.send(_MASK, value.encode()))
            try:
                feed = _read_feed(feed_fd) if feed_fd >= 0 else None
                for item in self._produce(feed):
                    writer.send(_ITEM, self._pack(item))
            except BrokenPipeError:
                raise
            except BaseException as exc:
                self._send_report(writer)
                writer.send(_ERROR, _pickled_error(exc))
            else:
                self._send_report(writer)
                writer.send(_DONE)
            code = 0
        except BaseException:  # the parent is gone, or the pipe is: nothing to tell anyone
            pass
        finally:
            os._exit(code)


def _become_child() -> None:
    """Signals back to their defaults, death with the parent, no channel to Airflow's supervisor."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the child on Ctrl-C
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if runner is not None and getattr(runner, "SUPERVISOR_COMMS", None) is not None:
        runner.SUPERVISOR_COMMS = None  # type: ignore[attr-defined]


def _read_feed(fd: int) -> Iterator[Any]:
    with open(fd, "rb", buffering=1 << 16) as stream:
        while True:
            frame = _read_frame(stream)
            if frame is None:  # the parent stopped feeding (it failed, or it is stopping the child)
                raise ForkedProcessError("the parent stopped feeding the fetch process")
            kind, payload = frame
            if kind == _FEED_END:
                return
            yield pickle.loads(payload)


def _pickled_error(exc: BaseException) -> bytes:
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    kind, message = type(exc).__qualname__, str(exc)
    try:
        data = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)  # an exception that cannot be rebuilt here is sent as its type and message
        error: Any = exc
    except Exception:
        error = None
    return pickle.dumps((error, kind, message, trace), protocol=pickle.HIGHEST_PROTOCOL)


# --- logs --------------------------------------------------------------------------------------


def _record_fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    message = record.getMessage()
    exc_text = record.exc_text
    if record.exc_info and not exc_text:
        exc_text = formatter.formatException(record.exc_info)
    return {
        "name": record.name,
        "msg": message,
        "args": None,
        "levelno": record.levelno,
        "levelname": record.levelname,
        "pathname": record.pathname,
        "filename": record.filename,
        "module": record.module,
        "lineno": record.lineno,
        "funcName": record.funcName,
        "created": record.created,
        "msecs": record.msecs,
        "relativeCreated": record.relativeCreated,
        "exc_text": exc_text,
        "stack_info": record.stack_info,
        "thread": record.thread,
        "threadName": record.threadName,
        "process": record.process,
        "processName": "restsync-fetch",
    }


_TRACEBACKS = logging.Formatter()  # formats a record's traceback in the child, where it happened


class _ForwardingHandler(logging.Handler):
    """Sends each record of the child, its message formatted, to the parent."""

    def __init__(self, writer: _Writer) -> None:
        super().__init__(logging.NOTSET)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = _record_fields(record, _TRACEBACKS)
            self.writer.send(_LOG, pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            raise
        except Exception:  # a record that cannot be sent is dropped, as logging drops a broken one
            pass


def _forward_logs(writer: _Writer) -> None:
    """Every stdlib and structlog record of the child goes to ``writer``."""
    logging.raiseExceptions = False
    handler = _ForwardingHandler(writer)
    root = logging.getLogger()
    root.handlers = [handler]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            logger.handlers = [] if logger.propagate else [handler]
    with contextlib.suppress(Exception):
        import structlog

        # In place: loggers bound before the fork hold this very list.
        processors = structlog.get_config()["processors"]
        processors[:] = [_structlog_to_stdlib]


_STRUCTLOG_LEVELS = {"exception": logging.ERROR, "warn": logging.WARNING, "msg": logging.INFO, "fatal": 50}


def _structlog_to_stdlib(logger: Any, method: str, event: dict[str, Any]) -> Any:
    """A structlog processor: the event as a stdlib record of the logger's name, then dropped."""
    import structlog

    name = event.pop("logger", None) or event.pop("logger_name", None) or getattr(logger, "name", None)
    text = str(event.pop("event", ""))
    args = event.pop("positional_args", None)
    if args:
        with contextlib.suppress(Exception):
            text = text % args
    exc_info = event.pop("exc_info", None)
    for key in ("timestamp", "level", "log_level"):
        event.pop(key, None)
    if event:
        text += " " + " ".join(f"{key}={value!r}" for key, value in event.items())
    level = _STRUCTLOG_LEVELS.get(method) or logging.getLevelName(method.upper())
    if not isinstance(level, int):
        level = logging.INFO
    if exc_info is True or (exc_info is None and method == "exception"):
        exc_info = sys.exc_info()
    stdlib = logging.getLogger(str(name or "airflow_provider_restsync"))
    if stdlib.isEnabledFor(level):
        stdlib.log(level, "%s", text, exc_info=exc_info or None)
    raise structlog.DropEvent


def _emit(fields: dict[str, Any]) -> None:
    """A record of the child, handed to this process's logger of the same name."""
    record = logging.makeLogRecord(fields)
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


__all__ = ["Forked", "ForkedProcessError", "can_fork"]
