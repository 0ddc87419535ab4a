"""Keeping long conversations inside the model's context window.

Pure planning, table-testable: ``window`` (how full a request is and may get),
``trimming`` (old tool results become stubs), ``compaction`` (where the cut is, what
the summary replaces), ``state`` (how the working history follows from the full one).
``keeper.ContextKeeper`` runs those plans for an agent; its one request, the summary,
goes through the agent's normal call path.
"""
