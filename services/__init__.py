"""The bot's services.

When ``BOT_COMPILED_CORE`` is set (``auto`` or ``require``), the compiled core
(:mod:`services.compiled`, docs/COMPILED_CORE.md) is installed here, before any module of the
package is imported, so tests and tools run against it too; ``bot.py`` installs it from
``bot.compiled_core`` otherwise.
"""

import os as _os

if _os.environ.get("BOT_COMPILED_CORE", "").strip():
    from services.compiled import activate_from_env as _activate_from_env

    _activate_from_env()
