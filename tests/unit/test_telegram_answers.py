"""aiogram reads every Bot API answer as a pydantic generic model, `Response[<result type>]`. pydantic keeps
those in a weak cache, so each garbage collection freed them and the next answer built the model again (~9 % of
a webhook process's CPU in bench.updates). The bot keeps the answers of the methods it calls alive."""

from __future__ import annotations

import gc

import pytest
from aiogram import methods
from aiogram.methods.base import Response
from pydantic._internal import _generics

import bot.channels.telegram_app  # noqa: F401  (what keeps them)

MESSAGE = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}, "text": "Xin chào"}


@pytest.mark.parametrize(("method", "result"), [
    (methods.SendMessage, MESSAGE), (methods.EditMessageText, MESSAGE), (methods.EditMessageReplyMarkup, True),
    (methods.AnswerCallbackQuery, True), (methods.SendDocument, MESSAGE),
])
def test_reading_answers_builds_no_model_after_a_garbage_collection(monkeypatch: pytest.MonkeyPatch,
                                                                     method: type, result: object) -> None:
    built: list[str] = []
    create = _generics.create_generic_submodel
    monkeypatch.setattr(_generics, "create_generic_submodel",
                        lambda name, *args: built.append(name) or create(name, *args))
    for _ in range(3):
        Response[method.__returning__].model_validate({"ok": True, "result": result})  # type: ignore[attr-defined]
        gc.collect()
    assert built == []
