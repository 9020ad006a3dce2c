"""Helpers for the end-to-end tests that drive JupyterLab in Debian's chromium."""
