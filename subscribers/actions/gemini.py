"""Moved to :mod:`vbq.outputs.gemini` (the core); re-exported here for existing imports."""

from vbq.outputs.gemini import GeminiRow, TokenUsage, is_gemini_row

__all__ = ["GeminiRow", "TokenUsage", "is_gemini_row"]
