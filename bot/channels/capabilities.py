"""What a channel can show; flows may read it, renderers must honour it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    buttons: bool  # inline buttons under a message
    reply_keyboard: bool  # a persistent menu of words
    edit: bool  # a sent message can be replaced in place
    html: bool  # bold, italic and links render as such
    max_text: int  # the longest text message, as the channel counts
    max_caption: int  # the longest caption under a photo or document (0: no captions)
    documents: bool  # files other than photos can be sent
    deep_links: bool  # t.me/bot?start=… style links carry a payload
    contacts: bool = False  # the person can share their phone number with a button
    max_buttons: int = 0  # buttons on one message
    max_button_data: int = 0  # bytes of data a button carries back


TELEGRAM = Capabilities(buttons=True, reply_keyboard=True, edit=True, html=True, max_text=4096, max_caption=1024,
                        documents=True, deep_links=True, contacts=True, max_buttons=100, max_button_data=64)
# Zalo's Bot Platform, and the sandbox's text-only phone: texts only, 2,000 characters, photos by URL.
TEXT = Capabilities(buttons=False, reply_keyboard=False, edit=False, html=False, max_text=2000, max_caption=2000,
                    documents=False, deep_links=False)
