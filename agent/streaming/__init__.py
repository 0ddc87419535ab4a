"""Streaming machinery: neutral deltas, the accumulator, the worker and the watchdog."""
