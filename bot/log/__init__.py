"""The decision log: its tables, database, the store that owns each ticket's state machine, and what it answers."""
