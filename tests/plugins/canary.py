"""Canary scanning across the whole test run (owner: the Connect/sessions work).

Placeholder module so that conftest imports resolve while the real plugin is written.
"""
