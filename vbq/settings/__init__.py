"""Settings, built once from the environment.

``Settings.from_env()`` reads every ``VBQ_*`` variable (and Google's own ``PUBSUB_EMULATOR_HOST``
and ``STORAGE_EMULATOR_HOST``, honoured exactly as Google's clients honour them) into one frozen
object. Nothing else in vbq reads ``os.environ`` for configuration.

Credentials are never settings: vbq uses Application Default Credentials through google-auth.

The package: :mod:`.settings` (the fields), :mod:`.reading` (``from_env``), :mod:`.parsing`
(one variable), :mod:`.checks` (the whole).
"""

from vbq.settings.checks import GEMINI_MAX_INPUT_BYTES, GEMINI_MAX_REQUESTS
from vbq.settings.settings import Settings

__all__ = ["GEMINI_MAX_INPUT_BYTES", "GEMINI_MAX_REQUESTS", "Settings"]
