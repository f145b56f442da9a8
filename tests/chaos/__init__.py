"""The fault-injection suite (``make chaos``): real tansu, PostgreSQL, SQLite and processes."""
