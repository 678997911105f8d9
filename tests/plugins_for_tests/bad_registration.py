"""Test-only plugin whose registration hook returns what ``$XMTC_TEST_REGISTRATION`` says:
``component`` (a bare Component, not a list), ``int`` (a number), ``raise`` (raises)."""

from __future__ import annotations

import os
from typing import Any

from harness import hookimpl
from harness.components import Component
from tests.plugins_for_tests.hostile import HostileSubstituter


@hookimpl
def xmtc_register_substituters() -> Any:
    how = os.environ.get("XMTC_TEST_REGISTRATION", "component")
    comp = Component("substituter", "badly-registered", "tests only", HostileSubstituter)
    if how == "raise":
        raise LookupError("registration test plugin fails on purpose")
    return comp if how == "component" else 7
