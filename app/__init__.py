"""Statuspass: signed status proofs, status lists and online verification."""

__version__ = "0.1.0"
