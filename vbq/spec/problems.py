"""Collects every broken rule of one spec, so one :class:`SpecError` reports them all."""

from __future__ import annotations

from vbq.errors import SpecError

__all__ = ["Problems"]

# A long message quoting a hostile value must not flood logs or HTTP answers.
_MAX_SHOWN_CHARS = 80
_MAX_MESSAGE_CHARS = 300
_MAX_FIELD_CHARS = 200


def shown(value: object) -> str:
    """A short, single-line ``repr`` of a rejected value for error messages."""
    try:
        text = repr(value)
    except Exception:  # a junk object's __repr__ may raise; the message must still build
        text = f"<{type(value).__name__}>"
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[: _MAX_SHOWN_CHARS - 3] + "..."
    return text


class Problems:
    """Broken rules found so far, each ``{"field", "rule", "message"}``.

    ``field`` is the SDK's keyword name, with ``.key`` or ``[i]`` for parts of it
    (``labels.team``, ``gcs_source[1]``).
    """

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def add(self, field: str, rule: str, message: str) -> None:
        """Record one broken rule (the message is cut to a bounded length)."""
        if len(message) > _MAX_MESSAGE_CHARS:
            message = message[: _MAX_MESSAGE_CHARS - 3] + "..."
        if len(field) > _MAX_FIELD_CHARS:  # a path into hostile nested data can be huge
            field = field[: _MAX_FIELD_CHARS - 3] + "..."
        self.errors.append({"field": field, "rule": rule, "message": message})

    def __bool__(self) -> bool:
        return bool(self.errors)

    def has(self, field: str) -> bool:
        """Whether ``field`` (or a part of it) already broke a rule."""
        return any(
            e["field"] == field or e["field"].startswith((f"{field}.", f"{field}["))
            for e in self.errors
        )

    def raise_if_any(self) -> None:
        """Raise everything recorded so far.

        Raises:
            SpecError: at least one rule was broken.
        """
        if self.errors:
            raise SpecError(list(self.errors))
