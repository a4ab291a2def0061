"""The history store's SQL schema, derived from the fact structs (`qhistory.facts`), for SQLite and
PostgreSQL. Head office (`qcall hq`) creates the same tables with `schema_sql("postgres")`.

Why derived: one definition of a fact. A field added to a struct becomes a column in both
backends, and the inserts and loads use the same column order (`columns()`).
Column types: str -> TEXT, int -> INTEGER/BIGINT, float -> REAL/DOUBLE PRECISION,
bool -> INTEGER/BOOLEAN, a list of steps -> TEXT/JSONB (a JSON array of [at, kind, counter,
teller, detail] arrays).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from qhistory.facts import FACT_TABLES, Complaint

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "json": "TEXT"},
    "postgres": {"str": "TEXT", "int": "BIGINT", "float": "DOUBLE PRECISION", "bool": "BOOLEAN",
                 "json": "JSONB"},
}


def _kind(t: msgspec.inspect.Type) -> str:
    if isinstance(t, msgspec.inspect.StrType | msgspec.inspect.LiteralType):
        return "str"
    if isinstance(t, msgspec.inspect.BoolType):
        return "bool"
    if isinstance(t, msgspec.inspect.IntType):
        return "int"
    if isinstance(t, msgspec.inspect.FloatType):
        return "float"
    if isinstance(t, msgspec.inspect.ListType):
        return "json"
    raise TypeError(f"no SQL column type for {t!r}")


def columns(struct: type[msgspec.Struct]) -> list[tuple[str, str]]:
    """(field name, kind) of a fact struct, in declaration order (the columns' order)."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    return [(f.name, _kind(f.type)) for f in info.fields]


def _table(name: str, struct: type[msgspec.Struct], key: tuple[str, ...], dialect: Dialect) -> str:
    types = _TYPES[dialect]
    cols = [f"{n} {types[k]} NOT NULL" for n, k in columns(struct)]
    return f"CREATE TABLE IF NOT EXISTS {name} (\n  " + ",\n  ".join(cols) + \
        f",\n  PRIMARY KEY ({', '.join(key)})\n)"


def _complaint_table(dialect: Dialect) -> str:
    types = _TYPES[dialect]
    ident = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    cols = [f"id {ident}"] + [f"{n} {types[k]} NOT NULL" for n, k in columns(Complaint) if n != "id"]
    return "CREATE TABLE IF NOT EXISTS complaint (\n  " + ",\n  ".join(cols) + "\n)"


def schema_sql(dialect: Dialect) -> list[str]:
    """Every CREATE statement of the history store (idempotent: IF NOT EXISTS)."""
    out = [_table(name, struct, key, dialect) for name, (struct, key) in FACT_TABLES.items()]
    out.append(_complaint_table(dialect))
    out.append("CREATE UNIQUE INDEX IF NOT EXISTS complaint_ref ON complaint (branch, ref) WHERE ref <> ''")
    out.append("CREATE INDEX IF NOT EXISTS complaint_open ON complaint (branch, closed_at)")
    return out


if __name__ == "__main__":  # `python -m qhistory.schema postgres` prints the DDL for head office
    import sys

    print(";\n\n".join(schema_sql("postgres" if "postgres" in sys.argv[1:] else "sqlite")) + ";")
