"""``fewer_collections``: keep Python's cyclic garbage collector from rescanning the task process.

A sync allocates millions of short-lived objects (parsed records, rows). Each time enough of them
survive a young collection, CPython rescans every object the process holds, and an Airflow task holds
a great many (Airflow, the providers, the DAG). Freezing the objects that exist before the sync takes
them out of those scans, and a higher young-generation threshold makes fewer scans; records hold no
reference cycles, so nothing is kept longer than it would be. Measured on a 100,000-record sync: a
quarter of its CPU time went to these scans.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze what exists now and collect the young generation less often, until the block ends."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], YOUNG_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
