"""Reporting: summaries of attack campaigns and the statistics behind their intervals and tests."""
