"""The store's Lua scripts, shipped as package data (``vbq/store/lua/*.lua``).

A script may share code with another through a line ``-- @include NAME.lua``: the named file's
source replaces that line (one level, no nesting), so a block that two scripts need, such as
``forget.lua`` for ``delete.lua`` and ``expire.lua``, is written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["load_script"]

_INCLUDE = re.compile(r"^-- @include ([\w.-]+\.lua)$", re.MULTILINE)


def _read(name: str) -> str:
    return resources.files("vbq.store").joinpath("lua", name).read_text(encoding="utf-8")


@cache
def load_script(name: str) -> str:
    """The source of ``vbq/store/lua/{name}``, with its ``-- @include`` lines expanded.

    Raises:
        FileNotFoundError: no such script (or included file) in the installed package.
    """
    return _INCLUDE.sub(lambda found: _read(found.group(1)).rstrip("\n"), _read(name))
