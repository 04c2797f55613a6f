"""Simulation environments (spec 04 §1): green packages and installed simulators an RL run uses.

Kept import-light: core.store imports `core.rl.simenvs.tables` so the table is in the one metadata.
"""
