"""The channel-neutral conversation layer: what people do (events) and what the bot says (replies).

Flows take an `Event` and return `Reply` objects; renderers in `bot/channels` turn replies into one
channel's messages within its limits. Nothing here knows a messenger.
"""
