"""Streaming: memory stays flat however many records a resource has."""

from __future__ import annotations

import time
import tracemalloc

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.fetch import iter_pages
from tests.support.api_client import SessionApiClient, resource_config
from tests.support.http import Request, Response, serve

RECORDS = 200_000
PAGE = 1_000
# All 200,000 records parsed at once take about 80 MiB; one page of them well under one.
PEAK_LIMIT = 8 * 2**20


def generated_api(request: Request) -> Response:
    """Writes each page on the fly (as bytes, to keep the server's own allocations few)."""
    offset, limit = int(request.param("offset") or 0), int(request.param("limit") or 0)
    rows = b",".join(
        b'{"id":%d,"email":"user%d@example.com","status":"delivered","opens":%d}' % (n, n, n % 7)
        for n in range(offset, min(offset + limit, RECORDS))
    )
    return Response(200, b'{"data":[' + rows + b"]}")


def test_streaming_200k_records_keeps_peak_memory_flat() -> None:
    endpoint = {"path": "/events", "data_selector": "data", "paginator": {"type": "offset", "limit": PAGE}}
    with serve(generated_api) as server:
        client = SessionApiClient(server.url, record=False)
        source = load_source(resource_config(server.url, endpoint, name="events"))
        count, last_id, early_peak, served, started = 0, -1, 0, 0, time.monotonic()
        tracemalloc.start()
        try:
            for page in iter_pages(client, source, "events"):
                count += len(page.records)
                last_id = page.records[-1]["id"]
                # The test server's own request log must not count as the client's growth.
                served += len(server.requests)
                server.requests.clear()
                if page.number == 10:
                    early_peak = tracemalloc.get_traced_memory()[1]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            client.close()
        elapsed = time.monotonic() - started
    assert (count, last_id) == (RECORDS, RECORDS - 1)
    assert served + len(server.requests) == RECORDS // PAGE + 1
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.1f} MiB while streaming {RECORDS} records"
    # Flat: 190 more pages add (almost) nothing to the peak reached after 10.
    assert peak < early_peak * 1.5, f"peak grew from {early_peak / 2**20:.2f} to {peak / 2**20:.2f} MiB"
    assert elapsed < 30
