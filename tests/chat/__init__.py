"""Tests of the chat, through the real Application against a Bot API server on loopback."""
