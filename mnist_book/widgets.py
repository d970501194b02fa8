"""Interactive explorers for Jupyter (ipywidgets). Each chapter that shows one also shows a
static figure of the same thing, so the HTML book, which has no kernel, loses nothing."""
from __future__ import annotations
