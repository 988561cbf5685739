"""Data deskbot ships: the default rules (repo folder rules/) and templates (templates/), installed under this package.

In the repository they live at the top level, where admins look for them; setuptools maps them here
(pyproject.toml, [tool.setuptools.package-dir]) so that a wheel installs no top-level `rules` or
`templates` module.
"""
