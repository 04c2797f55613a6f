"""Labeling plugins: annotation templates and export formats."""
