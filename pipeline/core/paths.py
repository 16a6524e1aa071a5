"""The path guard: every file name read from a record must stay inside its dataset folder.

A dataset is untrusted input (a Hub download, a folder someone sent): a record naming
`/etc/passwd` or `../../x` as its audio must be refused, never read, served or published.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any


class OutsidePath(ValueError):
    """A record names a file outside its dataset folder (bad input: exit 2)."""


def inside(root: str | Path, name: Any, where: str, *parts: str) -> Path:
    """`root/parts.../name`, refused unless `name` is a relative path with no `..`: it then
    names a file under `root`. `where` names the record (file:line, item id) for the error."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise OutsidePath(f"{where}: audio path {name!r} is not a file name")
    rel = PurePosixPath(name.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0]):
        raise OutsidePath(f"{where}: audio path {name!r} points outside the dataset "
                          f"folder {root}; refused")
    # Lexical, links not followed: a folder's own links (the Hugging Face cache links every
    # file to its blob) are its maker's choice; what a record says is not.
    return Path(root).joinpath(*parts, *rel.parts)
