"""Agreements (SLAs, OLAs, UCs) held to account: compliance per period within support hours, from
exact counts, and recommended targets.
"""
