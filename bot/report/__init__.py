"""`deskbot report`: one self-contained HTML file (inline CSS, SVG charts, no script) of how triage is doing."""
