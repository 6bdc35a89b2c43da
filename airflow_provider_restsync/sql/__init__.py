"""SQL destinations: record batches into tables through SQLAlchemy (PostgreSQL, MySQL/MariaDB, SQLite).

``create_destination_engine`` gives the engine; ``TableWriter`` writes one resource's batches into one
table (append, merge, replace), each batch in one transaction.
"""

from __future__ import annotations

from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.disposition import WriteDisposition, parse_write_disposition
from airflow_provider_restsync.sql.hints import ColumnHint, parse_column_hints
from airflow_provider_restsync.sql.naming import NamingConvention, normalize_identifier
from airflow_provider_restsync.sql.write import BatchResult, TableWriter

__all__ = [
    "BatchResult",
    "ColumnHint",
    "NamingConvention",
    "TableWriter",
    "WriteDisposition",
    "create_destination_engine",
    "normalize_identifier",
    "parse_column_hints",
    "parse_write_disposition",
]
