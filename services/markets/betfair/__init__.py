"""Betfair Exchange venue: stream files and messages, instruments on the odds ladder, replay.

Nothing outside this package imports its internals; the app reaches it through
:func:`services.markets.betfair.replay.BetfairReplayFeed` (``market_data.source: betfair_replay``).
Protocol facts: ``docs/BETFAIR.md`` and Betfair's Exchange Stream API documentation.
"""

from services.markets.betfair.files import open_stream, stream_files
from services.markets.betfair.translate import BetfairTranslator, instrument_id

__all__ = ["BetfairTranslator", "instrument_id", "open_stream", "stream_files"]
