"""Start the web dashboard (Flask + Flask-SocketIO) against the bot's database.

The dashboard arrives in a later step; until then this prints where the data is.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Explain that the dashboard is not built yet."""
    print(
        "The web dashboard is not available in this version yet. The bot's data is in its "
        "SQLite database (bot.db_path in config.yaml), and `python bot.py` shows the "
        "leaderboard in the terminal."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
