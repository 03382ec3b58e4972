"""Model analysis tools (``python -m src.tools.analysis.<tool>``)."""
