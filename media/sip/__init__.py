"""A small SIP user agent: sans-IO core (message, digest, transaction, endpoint, dialog)
and thin asyncio transports (`transport`)."""
