"""The routing rules that ship with deskbot (data; located with importlib.resources)."""
