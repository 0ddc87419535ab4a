"""The ``stayline`` command line: single shot (``-q``, piped stdin) and the chat.

Kept import-light: see ``agent.cli.main`` for why heavy modules load lazily.
"""
