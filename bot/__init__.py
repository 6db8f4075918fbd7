"""Khuyến công bot: a chat assistant for a provincial industrial-extension centre."""
