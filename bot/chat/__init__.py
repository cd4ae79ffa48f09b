"""The chat: the Telegram application, its handlers, the request runner, buttons, quotas and Telegram's limits."""
