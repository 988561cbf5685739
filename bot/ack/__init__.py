"""Acknowledgements: templates, their rendering and checks, the preview, and the mail that gets no answer."""
