"""The channel-neutral flows, registered in one place (features move here from the aiogram routers)."""

from __future__ import annotations

from bot.conversation.pipeline import Flows


def build_flows() -> Flows:
    from handlers import subscriptions

    flows = Flows()
    subscriptions.register(flows)
    return flows
