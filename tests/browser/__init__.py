"""The chat panel's browser test page and its Python helpers."""
