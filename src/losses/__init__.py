"""Training losses that are more than a framework one-liner (BMN's TEM + PEM loss)."""
