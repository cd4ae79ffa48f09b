"""Rendering: a brief or a digest → the words a reader sees, in Arabic and English. Pure functions."""
