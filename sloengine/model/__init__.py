"""The typed model and the vocabulary every stage shares: names, durations, PromQL, calendars,
and the types of a computed result.

Nothing here reads files or talks to Prometheus; nothing here imports a later stage.
"""
