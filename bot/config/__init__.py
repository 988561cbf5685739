"""The configuration file: loading deskbot.toml, its tables, and TOML positions for file:line errors."""
