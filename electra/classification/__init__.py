"""Sentence classification and regression: GLUE and own data."""
