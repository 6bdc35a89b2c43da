"""OpenLineage: the API endpoint a task reads and the table it writes, for the OpenLineage provider.

:class:`~airflow_provider_restsync.operators.rest_to_sql.RestToSqlOperator` notes both while it syncs
(:func:`endpoint_of`, :func:`table_of`) and gives them to the OpenLineage listener when the task
completes (``get_openlineage_facets_on_complete``):

- the input dataset is the endpoint: namespace ``<scheme>://<host>[:<port>]`` of the base URL, name the
  base URL's path and the endpoint's path as configured (``/v1/inboxes/{inbox_id}/messages``: one
  dataset for every parent, never a parent's value). Credentials in the URL, its query and fragment are
  left out: nothing secret reaches a lineage backend.
- the output dataset is the table, named as OpenLineage names tables: ``postgres://host:port`` with
  ``database.schema.table``, ``mysql://host:port`` with ``database.table``, ``sqlite://<file>`` with
  ``schema.table``; with a schema facet (each column and its type, as the database reports them) and an
  output-statistics facet (the rows this run wrote).

Without the OpenLineage provider nothing here is imported, and the operator runs as before.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from airflow_provider_restsync.sql.dialects import family

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetRef:
    """One OpenLineage dataset: where it lives and what it is, plus what the facets need."""

    namespace: str
    name: str
    columns: tuple[tuple[str, str], ...] = ()  # (name, type) in table order
    rows_written: int | None = None


def endpoint_of(base_url: str, path: str) -> DatasetRef:
    """The endpoint ``path`` of the API at ``base_url`` (or ``path`` itself when it is an absolute URL),
    without credentials, query or fragment."""
    absolute = "://" in path
    parts = urlsplit(path if absolute else base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    authority = f"{host}:{parts.port}" if parts.port is not None else host
    if absolute:
        name = parts.path
    else:
        name = parts.path.rstrip("/") + (path if path.startswith("/") or not path else f"/{path}")
    return DatasetRef(namespace=f"{parts.scheme}://{authority}", name=name or "/")


def table_of(engine: sa.Engine, table: str, schema: str | None, *, rows_written: int) -> DatasetRef:
    """The table ``table`` (in ``schema``) of ``engine``'s database with its columns as they are now."""
    url = engine.url
    kind = family(engine.dialect)
    with engine.connect() as conn:
        reflected = sa.inspect(conn).get_columns(table, schema)
        columns = tuple((str(column["name"]), str(column["type"])) for column in reflected)
        if kind == "postgresql":
            where = schema or conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    if kind == "postgresql":
        namespace = f"postgres://{url.host or 'localhost'}:{url.port or 5432}"
        name = f"{url.database}.{where}.{table}"
    elif kind == "mysql":
        namespace = f"mysql://{url.host or 'localhost'}:{url.port or 3306}"
        name = f"{schema or url.database}.{table}"
    else:
        database = url.database or ""
        path = os.path.abspath(database) if database and database != ":memory:" else ":memory:"
        namespace = f"sqlite://{path}"
        name = f"{schema or 'main'}.{table}"
    return DatasetRef(namespace=namespace, name=name, columns=columns, rows_written=rows_written)


def operator_lineage(source: DatasetRef | None, target: DatasetRef | None) -> Any:
    """The OpenLineage provider's ``OperatorLineage`` for a task that read ``source`` into ``target``;
    None when the task did not get as far as knowing them."""
    if source is None or target is None:
        return None
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    fields = [SchemaDatasetFacetFields(name=name, type=kind) for name, kind in target.columns]
    output = OutputDataset(
        namespace=target.namespace,
        name=target.name,
        facets={"schema": SchemaDatasetFacet(fields=fields)},
        outputFacets=(
            {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=target.rows_written)}
            if target.rows_written is not None
            else {}
        ),
    )
    return OperatorLineage(inputs=[Dataset(namespace=source.namespace, name=source.name)], outputs=[output])


__all__ = ["DatasetRef", "endpoint_of", "operator_lineage", "table_of"]
