"""Live Polymarket execution: the official SDK (CLOB V2) behind the execution-client boundary.

``venue.py`` wraps the SDK (signing, posting, cancels, heartbeats, reads) with rate-limit
priorities and 425/429 handling; ``client.py`` is the execution client the engine routes live
strategies to; ``user_channel.py`` reads the user WebSocket; ``runtime.py`` wires them into a
bot run (keys, tasks, reconciliation, kill switch). See docs/GOING_LIVE.md.
"""
