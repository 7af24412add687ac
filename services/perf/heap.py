"""The garbage collector and ``bot.py``'s long-lived objects (issue 18).

Everything built at start (the config models, the node, the strategies, the instruments listed
so far, SQLAlchemy's tables and the imported modules: hundreds of thousands of objects) lives
until the process ends. CPython's cyclic collector still walks all of them in every full
collection, and a busy run allocates enough containers to trigger one every few seconds.
:func:`frozen_start` moves them to the permanent generation once start-up is done, so full
collections only look at what the run itself creates. It changes when memory held in reference
cycles is reclaimed, never what the program computes.
"""

from __future__ import annotations

import gc


def frozen_start() -> int:
    """Collect the start-up's garbage, then freeze every object still alive.

    Returns the number of objects frozen (``gc.get_freeze_count()``). Garbage is collected
    first so that it is freed rather than kept for the life of the process. Objects frozen
    here that become garbage later (a config replaced by a reload) are freed by reference
    counting as usual; only one caught in a reference cycle stays until exit.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
