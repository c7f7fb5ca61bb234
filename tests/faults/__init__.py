"""Fault and bad-input suite: see conftest.py for how it counts."""
