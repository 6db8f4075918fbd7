"""A local stand-in for the Telegram Bot API, a web chat to act as simulated people, and the sandbox runner."""
