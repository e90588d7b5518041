"""Benchmarks of electra against its peers, kept apart from the package (see README.md here)."""
