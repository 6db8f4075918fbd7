"""The Zalo Bot Platform channel: an async client, the inbound adapter and (later) the sender."""
