"""The fetch process: a forked child streams its items back in order, its errors, log lines and masked
secrets reach the parent, it is killed when the consumer stops and dies with its parent, and it never
uses Airflow's supervisor channel."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_restsync.errors import ApiRequestError
from airflow_provider_restsync.fetch import Page
from airflow_provider_restsync.fetch_process import page_packer, page_unpacker
from airflow_provider_restsync.forked import Forked, ForkedProcessError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform does not fork")


def numbers(count: int) -> Forked[int]:
    return Forked(
        lambda feed: range(count), pack=lambda n: str(n).encode(), unpack=lambda data: int(data.decode())
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_items_come_back_in_order_and_the_child_is_reaped() -> None:
    forked = numbers(5000)
    assert list(forked) == list(range(5000))
    assert forked.pid is None
    assert forked.exit_status == 0


def test_the_child_runs_in_another_process() -> None:
    forked: Forked[int] = Forked(lambda feed: [os.getpid()], pack=lambda n: str(n).encode(), unpack=int)
    (child,) = list(forked)
    assert child != os.getpid()


def test_fed_items_reach_the_child_as_it_asks_for_them() -> None:
    def produce(feed: Iterator[Any] | None) -> Iterator[int]:
        assert feed is not None
        for item in feed:
            yield item["n"] * 2

    forked: Forked[int] = Forked(
        produce, pack=lambda n: str(n).encode(), unpack=int, feed=({"n": n} for n in range(3000))
    )
    assert list(forked) == [n * 2 for n in range(3000)]


def test_a_failing_feed_is_raised_here() -> None:
    def feed() -> Iterator[int]:
        yield 1
        raise ValueError("the parent keys cannot be read")

    forked: Forked[int] = Forked(
        lambda items: list(items or ()), pack=lambda n: b"%d" % n, unpack=int, feed=feed()
    )
    with pytest.raises(ValueError, match="the parent keys cannot be read"):
        list(forked)


def test_an_error_in_the_child_is_raised_with_its_type_fields_and_traceback() -> None:
    def produce(feed: Any) -> Iterator[int]:
        yield 1
        raise ApiRequestError("GET http://api/x failed with HTTP 404", url="http://api/x", status=404)

    forked: Forked[int] = Forked(produce, pack=lambda n: b"%d" % n, unpack=int)
    taken = []
    with pytest.raises(ApiRequestError, match="failed with HTTP 404") as raised:
        for item in forked:
            taken.append(item)
    assert taken == [1]
    assert (raised.value.url, raised.value.status) == ("http://api/x", 404)
    assert "in produce" in str(raised.value.__cause__)  # the child's traceback


class Unpicklable(Exception):
    def __init__(self, message: str, handle: Any) -> None:
        super().__init__(message)
        self.handle = handle


def test_an_error_that_cannot_cross_becomes_one_with_its_type_and_message() -> None:
    def produce(feed: Any) -> Iterator[int]:
        raise Unpicklable("the socket broke", handle=lambda: None)
        yield 0

    with pytest.raises(ForkedProcessError, match="Unpicklable: the socket broke"):
        list(Forked(produce, pack=lambda n: b"", unpack=int))


def test_a_child_killed_midway_is_an_error_that_says_so() -> None:
    def produce(feed: Any) -> Iterator[int]:
        yield 1
        os.kill(os.getpid(), signal.SIGKILL)
        yield 2

    with pytest.raises(ForkedProcessError, match="killed by signal 9"):
        list(Forked(produce, pack=lambda n: b"%d" % n, unpack=int))


def test_closing_early_kills_the_child() -> None:
    def produce(feed: Any) -> Iterator[int]:
        n = 0
        while True:
            n += 1
            yield n

    forked: Forked[int] = Forked(produce, pack=lambda n: b"%d" % n, unpack=int)
    for item in forked:
        if item == 3:
            break
    pid = forked.pid
    assert pid is not None and alive(pid)
    forked.close()
    assert forked.pid is None
    assert not alive(pid)
    assert forked.exit_status is not None and os.WTERMSIG(forked.exit_status) == signal.SIGKILL


def test_log_lines_of_the_child_are_logged_here(caplog: pytest.LogCaptureFixture) -> None:
    import structlog

    def produce(feed: Any) -> Iterator[int]:
        logging.getLogger("airflow_provider_restsync.fetch").info("page %d of %s", 1, "items")
        logging.getLogger("urllib3.connectionpool").warning("Retrying after a reset")
        structlog.get_logger("airflow_provider_restsync.hooks.base.BearerHook").info(
            "%s %s: HTTP 503; retry %d of %d", "GET", "http://api/items", 1, 3
        )
        yield 1

    with caplog.at_level(logging.INFO):
        assert list(Forked(produce, pack=lambda n: b"%d" % n, unpack=int)) == [1]
    lines = [(r.name, r.levelno, r.getMessage(), r.processName) for r in caplog.records]
    assert ("airflow_provider_restsync.fetch", logging.INFO, "page 1 of items", "restsync-fetch") in lines
    assert ("urllib3.connectionpool", logging.WARNING, "Retrying after a reset", "restsync-fetch") in lines
    hook_lines = [line for line in lines if line[0] == "airflow_provider_restsync.hooks.base.BearerHook"]
    assert [line[2] for line in hook_lines] == ["GET http://api/items: HTTP 503; retry 1 of 3"]
    assert all(line[3] == "restsync-fetch" for line in hook_lines)


def test_a_secret_the_child_masks_is_masked_here(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk.log

    from airflow_provider_restsync.hooks import masking

    masked: list[tuple[str, int]] = []
    monkeypatch.setattr(
        airflow.sdk.log, "mask_secret", lambda value, name=None: masked.append((value, os.getpid()))
    )

    def produce(feed: Any) -> Iterator[int]:
        masking.mask_with_airflow("fresh-oauth-token-7d1")
        yield 1

    assert list(Forked(produce, pack=lambda n: b"%d" % n, unpack=int)) == [1]
    assert masked == [("fresh-oauth-token-7d1", os.getpid())]


def test_the_child_never_uses_the_supervisor_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)

    def produce(feed: Any) -> Iterator[bool]:
        yield task_runner.SUPERVISOR_COMMS is None

    assert list(Forked(produce, pack=lambda ok: b"1" if ok else b"0", unpack=lambda d: d == b"1")) == [True]
    assert task_runner.SUPERVISOR_COMMS is not None  # the parent keeps its own


def test_the_child_dies_with_its_parent(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import os, time
        from airflow_provider_restsync.forked import Forked

        def produce(feed):
            with open({str(pid_file)!r}, "w") as out:
                out.write(str(os.getpid()))
            while True:
                time.sleep(0.05)
                yield 1

        for _ in Forked(produce, pack=lambda n: b"1", unpack=int):
            pass
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[1])
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and parent.poll() is None, "the child did not start"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert alive(child)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


# --- pages across the pipe ------------------------------------------------------------------------


class Counts:
    def __init__(self, requests: int = 0, retries: int = 0, by_cause: dict[str, int] | None = None) -> None:
        self.requests = requests
        self.retries = retries
        self.by_cause = by_cause or {}


def crossed(page: Page, new: bool = True) -> tuple[bool, Page]:
    here = Counts()
    result = page_unpacker(here)(page_packer(Counts(7, 2, {"429": 1, "timeout": 1}))((new, page)))
    assert (here.requests, here.retries, here.by_cause) == (7, 2, {"429": 1, "timeout": 1})
    return result


def test_a_page_crosses_whole() -> None:
    page = Page(
        "messages",
        3,
        "http://api/v1/messages?api_key=***&offset=200",
        [{"id": 1, "to": [{"email": "a@b.example", "name": None}], "score": 1.5, "ok": True}],
        parent={"id": 9},
        context={"inboxes": {"id": 9}},
        position={"offset": 300},
        last=False,
    )
    new, back = crossed(page)
    assert new is True
    assert back == page


def test_records_that_are_not_strict_json_cross_unchanged() -> None:
    records = [{"id": 1, "nan": math.nan, "inf": -math.inf, "big": 2**70, "odd": "\ud800"}]
    _, back = crossed(Page("r", 1, "u", records, strict=False))
    (record,) = back.records
    assert math.isnan(record["nan"]) and record["inf"] == -math.inf
    assert (record["big"], record["odd"]) == (2**70, "\ud800")
    # A page marked strict that still holds what orjson cannot write falls back to pickle too.
    _, back = crossed(Page("r", 1, "u", [{"big": 2**70, "odd": "\ud800"}], strict=True))
    assert back.records == [{"big": 2**70, "odd": "\ud800"}]


@pytest.mark.parametrize("fails", [False, True])
def test_the_childs_report_arrives_after_its_items_whether_it_ends_or_fails(fails: bool) -> None:
    sent = {"count": 0}  # the child's own copy counts; the parent's stays 0 until the report comes

    def produce(feed: Iterator[Any] | None) -> Iterator[int]:
        for n in range(3):
            sent["count"] += 1
            yield n
        if fails:
            raise ApiRequestError("resource 'r': GET http://x/v1/r failed with HTTP 404")

    heard: list[int] = []
    forked: Forked[int] = Forked(
        produce,
        pack=lambda n: str(n).encode(),
        unpack=int,
        report=(lambda: str(sent["count"]).encode(), lambda data: heard.append(int(data))),
    )
    items: list[int] = []
    if fails:
        with pytest.raises(ApiRequestError, match="HTTP 404"):
            items.extend(forked)
    else:
        items.extend(forked)
    assert items == [0, 1, 2] and heard == [3] and sent["count"] == 0
