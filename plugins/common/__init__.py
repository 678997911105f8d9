"""Helpers shared by several built-in plugins (never imported by the core)."""
