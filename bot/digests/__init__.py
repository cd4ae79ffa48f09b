"""Digests: a period's briefs grouped into stories and composed for a chat; how well they group."""
