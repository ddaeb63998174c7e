"""The store's SQL, written once in the parts' dialect (SQLite's), said to PostgreSQL: each statement translated
once and kept (the shape of Synapse's `convert_param_style`, with the few forms SQLite has and PostgreSQL spells
otherwise).

  ?                                    %s (and every % doubled, in a string literal too: psycopg reads them all)
  ? IS NULL                            %s::text IS NULL: nothing else in the statement says the parameter's type
  x'…'                                 '\\x…'::bytea
  INSERT OR IGNORE INTO t …            INSERT INTO t … ON CONFLICT DO NOTHING
  INSERT OR REPLACE INTO t [(c…)] …    INSERT INTO t (c…) … ON CONFLICT (t's primary key) DO UPDATE SET every other
                                       column: the one given, or its DEFAULT (SQLite's REPLACE makes the row anew)
  ON CONFLICT … DO UPDATE SET c = c+1  the existing row's column named by its table (PostgreSQL finds a bare name
                                       ambiguous between the row and EXCLUDED)
  INSERT INTO t … (one row)            … RETURNING t's identity column, when it has one: the cursor's lastrowid

The tables' columns, primary keys and identity columns are read from the database's catalog (Tables.read), not
written here. A statement no rule can carry over has its PostgreSQL form beside it in the part that issues it,
chosen by the store's `engine`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow


@dataclass(frozen=True)
class Table:
    """What the translation needs of a table: its columns in order, its primary key, its identity column."""

    columns: tuple[str, ...]
    key: tuple[str, ...]
    identity: str | None = None


@dataclass(frozen=True)
class Statement:
    """A statement as PostgreSQL takes it; `returns_id`: it ends in RETURNING the new row's id (lastrowid)."""

    text: str
    returns_id: bool = False


def read_tables(conn: psycopg.Connection[TupleRow]) -> dict[str, Table]:
    """Every table of the current schema, from the catalog."""
    columns: dict[str, list[str]] = {}
    identities: dict[str, str] = {}
    for table, column, identity in conn.execute(
            "SELECT table_name, column_name, is_identity FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
        columns.setdefault(table, []).append(column)
        if identity == "YES":
            identities[table] = column
    keys: dict[str, list[str]] = {}
    for table, column in conn.execute(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu"
            "   ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name"
            " WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()"
            " ORDER BY tc.table_name, kcu.ordinal_position"):
        keys.setdefault(table, []).append(column)
    return {t: Table(tuple(cols), tuple(keys.get(t, ())), identities.get(t)) for t, cols in columns.items()}


# a string literal (its quotes doubled inside), else one character of code the rules below look at
_TOKENS = re.compile(r"(?<!\w)[xX]'((?:[^']|'')*)'|'(?:[^']|'')*'|\?(\s+IS\s+(?:NOT\s+)?NULL\b)?|%", re.IGNORECASE)
_OR = re.compile(r"^(\s*)INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_UPDATE_SET = re.compile(r"\bON\s+CONFLICT\b.*?\bDO\s+UPDATE\s+SET\b", re.IGNORECASE | re.DOTALL)


class Dialect:
    """Translates the parts' statements for one database's tables, each once (the parts issue a few dozen)."""

    def __init__(self, tables: Mapping[str, Table]) -> None:
        self.tables = dict(tables)
        self._cache: dict[tuple[str, bool], Statement] = {}

    def translate(self, sql: str, many: bool = False) -> Statement:
        """`sql` for PostgreSQL; `many`: run with executemany (which returns no rows: no RETURNING is added)."""
        found = self._cache.get((sql, many))
        if found is None:
            found = self._cache[(sql, many)] = self._translate(sql, many)
        return found

    def _translate(self, sql: str, many: bool) -> Statement:
        text = _parameters(sql)
        conflict = ""
        if m := _OR.match(text):
            indent, verb, table, listed = m.group(1), m.group(2).upper(), m.group(3), m.group(5)
            columns = [c.strip() for c in listed.split(",")] if listed else list(self._table(table).columns)
            rest = text[m.end():]
            text = f"{indent}INSERT INTO {table} ({', '.join(columns)}){'' if rest[:1].isspace() else ' '}{rest}"
            conflict = " ON CONFLICT DO NOTHING" if verb == "IGNORE" else self._replace(table, columns)
        elif m := _UPDATE_SET.search(text):
            table = _INSERT.match(text)
            if table is not None:
                text = text[:m.end()] + _qualified(text[m.end():], table.group(1), self._table(table.group(1)))
        returns_id = False
        if not many and (m := _INSERT.match(text)) and not _RETURNING.search(text):
            identity = self._table(m.group(1)).identity
            if identity is not None:
                conflict += f" RETURNING {identity}"
                returns_id = True
        if conflict:
            body = text.rstrip().rstrip(";")
            if found := _RETURNING.search(body):  # the conflict clause goes before a RETURNING written already
                body, rest = body[:found.start()].rstrip(), " " + body[found.start():]
            else:
                rest = ""
            text = body + conflict + rest
        return Statement(text, returns_id)

    def _table(self, name: str) -> Table:
        try:
            return self.tables[name.lower()]
        except KeyError:
            raise ValueError(f"a statement names the table {name!r}, which the database does not have") from None

    def _replace(self, name: str, columns: list[str]) -> str:
        """SQLite's REPLACE as an upsert on the primary key: the row as if made anew (unnamed columns to their
        DEFAULT). Only the primary key is the conflict: a REPLACE that would collide on another UNIQUE column
        (which SQLite would settle by deleting that other row) is refused instead."""
        table = self._table(name)
        if not table.key:
            raise ValueError(f"INSERT OR REPLACE INTO {name}: the table has no primary key to replace on")
        named = {c.lower() for c in columns}
        sets = [f"{c} = EXCLUDED.{c}" if c in named else f"{c} = DEFAULT"
                for c in table.columns if c not in table.key]
        return (f" ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {', '.join(sets)}" if sets
                else f" ON CONFLICT ({', '.join(table.key)}) DO NOTHING")


def _parameters(sql: str) -> str:
    """Placeholders and blob literals, outside the statement's string literals; every % doubled."""

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "%":
            return "%%"
        if token.startswith("?"):
            return "%s::text" + m.group(2) if m.group(2) else "%s"
        if m.group(1) is not None:  # x'…': the same bytes, in bytea's hex input form
            return f"'\\x{m.group(1)}'::bytea"
        return token.replace("%", "%%")  # a string literal: psycopg reads every % of the text, quoted or not

    return _TOKENS.sub(one, sql)


def _qualified(assignments: str, name: str, table: Table) -> str:
    """In ON CONFLICT's `SET a = expr, …`, each bare column of the target in `expr` named by its table."""
    columns = "|".join(re.escape(c) for c in table.columns)
    bare = re.compile(rf"(?<![.\w])({columns})\b(?!\s*=(?!=))", re.IGNORECASE)
    return bare.sub(lambda m: f"{name}.{m.group(1)}", assignments)
