"""Deprecated: moved to compare.data.recipes (compare/_moved.py); this name works until 0.3.0."""
from ._moved import alias

alias(__name__)
