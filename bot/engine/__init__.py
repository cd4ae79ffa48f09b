"""The brief engine: an article → the LLM → checks → a settled brief in its envelope. Knows nothing of Telegram."""
