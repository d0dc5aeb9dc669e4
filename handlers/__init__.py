"""Conversation logic: pure functions of (message, session, context) that return a Reply."""
