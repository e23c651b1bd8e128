"""Reading Prometheus: the connection, each SLO's counts over its windows, the figures computed from
them, the live checks of `validate --prometheus` and the backfill of history.
"""
