"""The store's Lua scripts, shipped as package data (``vbq/store/lua/*.lua``)."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["load_script"]


@cache
def load_script(name: str) -> str:
    """The source of ``vbq/store/lua/{name}``.

    Raises:
        FileNotFoundError: no such script in the installed package.
    """
    return resources.files("vbq.store").joinpath("lua", name).read_text(encoding="utf-8")
