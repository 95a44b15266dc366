"""Sending: one attempt, the retry schedule, breakers, per-destination limits, the queues and the worker."""
