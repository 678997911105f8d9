"""Plugin modules used only by tests (load with ``--plugin tests.plugins_for_tests.NAME``)."""
