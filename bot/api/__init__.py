"""The HTTP API: thin routes over the same pipeline and decision log as the daemon."""
