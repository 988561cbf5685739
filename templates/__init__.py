"""Jinja2 acknowledgement templates that ship with deskbot (data; located with importlib.resources)."""
