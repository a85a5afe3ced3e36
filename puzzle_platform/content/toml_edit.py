"""Format-preserving edits of a TOML document (tomlkit): apply a new table onto an old file.

Why: a mentor's puzzle.toml carries comments, inline tables, key order and multi-line strings
that a plain writer would throw away on every export. Here the old document is changed only
where the new table differs: unchanged values keep their exact text, changed values are
replaced where they stand, removed keys go, new ones are appended, and arrays of tables follow
the new order (entries matched by an identifying key). New documents get the house style:
inline tables for nested tables and multi-line strings for text with line breaks.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import tomlkit
from tomlkit.items import AoT, InlineTable, Item, Table

Path_ = tuple[str, ...]
# `same(raw)`: does this plain entry still mean what the new entry means (defaults included)?
Same = Callable[[dict], bool]


def plain_equal(a: object, b: object) -> bool:
    """Equality that tells booleans from numbers (False == 0 in Python, not in a file)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def unwrap(value: object) -> object:
    return value.unwrap() if hasattr(value, "unwrap") else value


def styled(value: object) -> Item:
    """A new value in the house style: inline tables, multi-line strings for text with line
    breaks, long arrays one element a line."""
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table[k] = styled(v)
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for v in value:
            array.append(styled(v))
        if len(repr(value)) > 80 and all(isinstance(v, str) for v in value):
            array.multiline(True)
        return array
    if isinstance(value, str) and "\n" in value:
        return tomlkit.string(value, multiline=True)
    return tomlkit.item(value)


def new_table(entry: dict) -> Table:
    """An [[array]] entry: scalars and inline tables, nested arrays of tables as sub-tables."""
    table = tomlkit.table()
    for k, v in entry.items():
        table[k] = new_aot(v) if _is_aot(v) else styled(v)
    table.add(tomlkit.nl())
    return table


def new_aot(entries: list[dict]) -> AoT:
    aot = tomlkit.aot()
    for entry in entries:
        aot.append(new_table(entry))
    return aot


def new_document(table: dict, header: str = "") -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    for line in header.splitlines():
        doc.add(tomlkit.comment(line.lstrip("# ")))
    for k, v in table.items():
        if _is_aot(v):
            if not doc.body or not isinstance(doc.body[-1][1], (AoT, Table)):
                doc.add(tomlkit.nl())
            doc[k] = new_aot(v)
        else:
            doc[k] = styled(v)
    return doc


def _is_aot(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _apply(old: Table | InlineTable, new: dict, extras: list[Path_], path: Path_,
           entry_fns: dict[str, Callable]) -> None:
    """Make `old` hold `new`; keys only in `old` are listed in `extras` (not removed here)."""
    extras.extend(path + (k,) for k in old if k not in new)
    for k, v in new.items():
        if k not in old:
            old[k] = new_aot(v) if _is_aot(v) else styled(v)
            continue
        cur = old[k]
        if plain_equal(unwrap(cur), v):
            continue
        if isinstance(v, dict) and isinstance(cur, (Table, InlineTable)):
            _apply(cur, v, extras, path + (k,), entry_fns)
        elif isinstance(cur, AoT) and _is_aot(v) and k in entry_fns:
            apply_aot(cur, v, *entry_fns[k])
        else:
            old[k] = new_aot(v) if _is_aot(v) else styled(v)


def _without(raw: dict, paths: list[Path_]) -> dict:
    out = copy.deepcopy(raw)
    for path in paths:
        node = out
        for k in path[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def _delete(table: Table | InlineTable, path: Path_) -> None:
    node = table
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]


def apply_entry(old: Table, new: dict, same: Same | None = None,
                entry_fns: dict[str, Callable] | None = None) -> None:
    """Update one entry in place. A key only in the old entry (an explicit default such as
    `mode = "forecast"`) is kept when `same` says the entry still means the new one with it."""
    if same is not None and same(unwrap(old)):
        return
    extras: list[Path_] = []
    _apply(old, new, extras, (), entry_fns or {})
    raw = unwrap(old)
    kept: list[Path_] = []
    for path in extras:
        others = [p for p in extras if p not in kept and p != path]
        if same is not None and same(_without(raw, others)):
            kept.append(path)
    for path in sorted((p for p in extras if p not in kept), key=len, reverse=True):
        _delete(old, path)


def apply_aot(aot: AoT, entries: list[dict], id_field: str,
              apply_one: Callable[[Table, dict, int], None]) -> None:
    """Entries matched by `id_field`: matched ones updated by `apply_one`, others added, the
    unmatched old ones removed, and the whole put in the new order."""
    by_id = {unwrap(t.get(id_field)): t for t in aot.body}
    tables = []
    for i, entry in enumerate(entries):
        table = by_id.pop(entry.get(id_field), None)
        if table is None:
            table = new_table(entry)
        else:
            apply_one(table, entry, i)
        tables.append(table)
    if [id(t) for t in aot.body] != [id(t) for t in tables]:
        while len(aot):
            del aot[0]
        for i, table in enumerate(tables):
            if i < len(tables) - 1 and not table.as_string().endswith("\n\n"):
                table.add(tomlkit.nl())  # a moved last entry: a blank line before the next
            aot.append(table)
