"""Shared plumbing: the pool type, rows as msgspec Structs, JSON values as jsonb, time
conversions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from psycopg import AsyncConnection, AsyncCursor
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import AsyncRowFactory, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

# Any row factory is accepted on the connections: every query here names its own.
StoreConnection = AsyncConnection[Any]
StorePool = AsyncConnectionPool[AsyncConnection[Any]]

StructT = TypeVar("StructT", bound=msgspec.Struct)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def struct_row(cls: type[StructT]) -> AsyncRowFactory[StructT]:
    """A row factory building `cls` by column name, converting text to enums on the way."""

    def factory(cursor: AsyncCursor[Any]) -> Callable[[Sequence[Any]], StructT]:
        names = [column.name for column in cursor.description or ()]

        def make(values: Sequence[Any]) -> StructT:
            return msgspec.convert(dict(zip(names, values, strict=True)), cls)

        return make

    return factory


async def fetch_value(
    conn: StoreConnection, query: QueryNoTemplate, params: Params | None = None
) -> Any:
    """The first column of the first row, or None when there is no row."""
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(query, params)
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def fetch_one(
    conn: StoreConnection, cls: type[StructT], query: QueryNoTemplate, params: Params | None = None
) -> StructT | None:
    async with conn.cursor(row_factory=struct_row(cls)) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchone()


async def fetch_all(
    conn: StoreConnection, cls: type[StructT], query: QueryNoTemplate, params: Params | None = None
) -> list[StructT]:
    async with conn.cursor(row_factory=struct_row(cls)) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


def _dumps(value: Any) -> bytes:
    return msgspec.json.encode(value)


def jsonb(value: Any) -> Jsonb | None:
    """Adapt a JSON-able value for a jsonb column; Python None stays SQL NULL."""
    return None if value is None else Jsonb(value, dumps=_dumps)


def from_ms(timestamp_ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC datetime (exact, no float)."""
    return EPOCH + timedelta(milliseconds=timestamp_ms)


def to_us(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch (Postgres' resolution)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_us(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, as the HTTP API shows times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
