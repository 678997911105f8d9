"""The results database: schema.py (tables), session.py (engine, WAL, migrations, retries),
queries.py (read-side filters shared by the query, leaderboard and report commands)."""
