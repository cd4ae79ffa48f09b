"""Tests of the brief engine."""
