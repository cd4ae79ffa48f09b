"""Tests of reading input."""
