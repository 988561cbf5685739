"""The decision log's alembic migrations (versions/), one file per schema revision."""

HEAD = "0005"  # the newest revision in versions/: a start compares the log's with it without importing alembic
