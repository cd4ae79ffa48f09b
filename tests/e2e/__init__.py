"""End-to-end tests: the whole bot in real processes."""
