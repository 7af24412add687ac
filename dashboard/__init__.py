"""The web dashboard: a Flask + Flask-SocketIO app over the bot's database.

Build it with :func:`dashboard.app.create_app`; run it with ``python start_dashboard.py``.
"""
