"""How a resource's records land in its table: dlt's ``write_disposition``, parsed and checked once.

- ``append`` (the default, as in dlt) inserts every record.
- ``merge`` updates rows by primary key. Its strategy is ``upsert`` unless the config says
  ``delete-insert``; both leave the same rows (a staged row replaces the whole stored row), ``upsert``
  does it in one statement. dlt's default strategy is ``delete-insert``.
- ``replace`` swaps in a table holding exactly this run's records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_restsync.errors import ConfigError, did_you_mean

DISPOSITIONS = ("append", "replace", "merge")
MERGE_STRATEGIES = ("upsert", "delete-insert")
MERGE_STRATEGIES_NOT_YET = ("scd2", "insert-only")
DEFAULT_DISPOSITION = "append"
DEFAULT_MERGE_STRATEGY = "upsert"


@dataclass(frozen=True)
class WriteDisposition:
    """``disposition`` and, for ``merge``, its ``strategy``."""

    disposition: str = DEFAULT_DISPOSITION
    strategy: str = DEFAULT_MERGE_STRATEGY

    def __post_init__(self) -> None:
        if self.disposition not in DISPOSITIONS:
            raise ConfigError(_unknown("write disposition", self.disposition, DISPOSITIONS))
        if self.strategy not in MERGE_STRATEGIES:
            raise ConfigError(_unknown("merge strategy", self.strategy, MERGE_STRATEGIES))

    @property
    def keyed(self) -> bool:
        """Whether rows are matched by primary key (merge; replace deduplicates by it)."""
        return self.disposition in ("merge", "replace")

    def require_key(self, primary_key: Sequence[str], key_path: str | None = None) -> None:
        """A merge needs a primary key: without one it is an error (dlt would append silently).

        :raises ConfigError: merge without a key, at ``key_path``.
        """
        if self.disposition == "merge" and not primary_key:
            raise ConfigError(
                "write_disposition 'merge' needs a primary key: set primary_key, or hint a column "
                "with primary_key: true",
                key_path,
            )


def parse_write_disposition(raw: Any, key_path: str) -> WriteDisposition:
    """``"merge"`` or dlt's ``{disposition: merge, strategy: upsert}``; None is ``append``.

    :raises ConfigError: an unknown disposition, strategy or key, at its key path.
    """
    if raw is None:
        return WriteDisposition()
    strategy = DEFAULT_MERGE_STRATEGY
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in ("disposition", "strategy"):
                raise ConfigError(
                    f"unknown key {key!r}{did_you_mean(str(key), ('disposition', 'strategy'))}; "
                    "known keys: disposition, strategy",
                    f"{key_path}.{key}",
                )
        disposition = raw.get("disposition", DEFAULT_DISPOSITION)
        if raw.get("strategy") is not None:
            strategy = raw["strategy"]
            if disposition != "merge":
                raise ConfigError(
                    "a strategy is supported with the merge disposition only", f"{key_path}.strategy"
                )
            if strategy in MERGE_STRATEGIES_NOT_YET:
                raise ConfigError(f"merge strategy {strategy!r} is not supported yet", f"{key_path}.strategy")
            if strategy not in MERGE_STRATEGIES:
                raise ConfigError(
                    _unknown("merge strategy", strategy, MERGE_STRATEGIES), f"{key_path}.strategy"
                )
        key_path = f"{key_path}.disposition"
    else:
        disposition = raw
    if disposition not in DISPOSITIONS:
        raise ConfigError(_unknown("write disposition", disposition, DISPOSITIONS), key_path)
    return WriteDisposition(disposition, strategy)


def _unknown(what: str, value: Any, choices: Sequence[str]) -> str:
    return f"unknown {what} {value!r}{did_you_mean(str(value), choices)}; one of: {', '.join(choices)}"
