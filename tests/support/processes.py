"""The machine's processes as /proc shows them: who is alive, in which session and group, below whom.

Zombies are dead: they count as gone everywhere here.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple


class Proc(NamedTuple):
    """One live process: its parent, process group, session and command name."""

    ppid: int
    group: int
    session: int
    name: str


def process_table() -> dict[int, Proc]:
    """pid -> :class:`Proc` of every live process."""
    table: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            table[int(entry.name)] = Proc(int(fields[1]), int(fields[2]), int(fields[3]), name)
    return table


def session_members(sid: int) -> list[int]:
    """Every live process of session ``sid``."""
    return [pid for pid, proc in process_table().items() if proc.session == sid]


def group_members(groups: Collection[int]) -> dict[int, list[int]]:
    """The live processes of each process group in ``groups`` that still has one."""
    members: dict[int, list[int]] = {}
    for pid, proc in process_table().items():
        if proc.group in groups:
            members.setdefault(proc.group, []).append(pid)
    return members


def descendants(root: int, name: str = "") -> set[int]:
    """Every live process below ``root`` (by parent, whatever session or group it moved to) whose
    command name contains ``name``."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found: set[int] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return {pid for pid in found if name in table[pid].name}


def command_line(pid: int) -> str:
    """The start of ``pid``'s command line, or ``(gone)``."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "(gone)"
