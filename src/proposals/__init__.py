"""Turning network outputs into results files (BMN proposals)."""
