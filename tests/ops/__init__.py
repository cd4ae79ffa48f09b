"""Tests of operations: settings, checks, the command line."""
