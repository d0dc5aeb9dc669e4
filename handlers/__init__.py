"""Conversation logic: pure functions of (message, session, context) that return a Reply, rendered from
handlers/templates. Imports nothing from bot/; storage is reached through handlers.context.Storage."""
