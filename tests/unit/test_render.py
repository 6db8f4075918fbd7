"""The neutral reply renderers: what a person would see on Telegram and on a text-only channel."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from bot.channels.capabilities import TELEGRAM, TEXT
from bot.channels.telegram_render import TelegramRenderer, pack_callback, unpack_callback
from bot.channels.text import TextRenderer, resolve_number
from bot.conversation.replies import (
    Block,
    Bold,
    Choice,
    Code,
    FileData,
    Italic,
    Link,
    MediaRef,
    Reply,
    plain_text,
    runs_of,
)
from bot.conversation.split import utf16_len

ALLOWED_TAGS = {"b", "i", "a", "code"}


class TelegramHtml(HTMLParser):
    """Parses a text as Telegram's HTML mode would: only known tags, properly nested; returns the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, f"Telegram refuses <{tag}>"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.visible.append(data)

    @classmethod
    def visible_text(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        parser.close()
        assert not parser.stack, f"unclosed {parser.stack}"
        return "".join(parser.visible)


def telegram_check(messages) -> None:
    for m in messages:
        visible = TelegramHtml.visible_text(m.text)
        limit = TELEGRAM.max_caption if m.method in ("photo", "document") else TELEGRAM.max_text
        assert utf16_len(visible) <= limit
        assert m.method == "photo" or m.method == "document" or visible.strip(), "Telegram refuses empty texts"
        board = (m.reply_markup or {}).get("inline_keyboard", [])
        assert sum(len(row) for row in board) <= TELEGRAM.max_buttons
        for row in board:
            for button in row:
                assert len(button["callback_data"].encode()) <= 64


def test_user_text_cannot_become_markup_on_telegram() -> None:
    hostile = "<b>Cơ sở</b> & <a href='x'>link</a> </i>"
    out = TelegramRenderer().render(Reply.of(Block(Bold("Tên: "), hostile)))
    (message,) = out.messages
    assert TelegramHtml.visible_text(message.text) == "Tên: " + hostile
    assert message.text.startswith("<b>Tên: </b>&lt;b&gt;")


def test_nested_markup_renders_as_valid_html() -> None:
    reply = Reply.of(Block(Bold("a ", Italic("b")), " ", Link("trang <web>", "https://x.vn/?a=1&b=\"2\""),
                           " ", Code("NC-1")))
    (message,) = TelegramRenderer().render(reply).messages
    assert TelegramHtml.visible_text(message.text) == "a b trang <web> NC-1"
    assert '<a href="https://x.vn/?a=1&amp;b=&quot;2&quot;">' in message.text


def test_text_renderer_shows_words_not_markup() -> None:
    reply = Reply.of(Block(Bold("Nhu cầu"), " <NC-1>"), Block(Link("Trang", "https://kc.vn")))
    (message,) = TextRenderer().render(reply).messages
    assert message.text == "Nhu cầu <NC-1>\n\nTrang (https://kc.vn)"


def test_long_reply_is_split_in_order_within_telegrams_limit() -> None:
    items = [Block(Bold(f"NC-2026-{i:04d}"), " " + "mô tả nhu cầu rất dài " * 20) for i in range(40)]
    out = TelegramRenderer().render(Reply.of(*items, choices=[[Choice("Xem thêm", "nd.more", "2")]]))
    assert len(out.messages) > 1
    telegram_check(out.messages)
    joined = "".join(TelegramHtml.visible_text(m.text) for m in out.messages)
    codes = [int(part[:4]) for part in joined.split("NC-2026-")[1:]]
    assert codes == list(range(40)), "every item once, in order"
    assert out.messages[-1].reply_markup is not None and all(m.reply_markup is None for m in out.messages[:-1])


def test_one_block_over_the_limit_is_split_at_line_ends() -> None:
    body = "\n".join(f"dòng {i} " + "x" * 90 for i in range(100))  # ~10,000 characters, one block
    out = TelegramRenderer().render(Reply.of(Block(Bold("Tiêu đề"), "\n", body)))
    telegram_check(out.messages)
    texts = [TelegramHtml.visible_text(m.text) for m in out.messages]
    assert all(t.split("\n")[-1].endswith("x" * 90) for t in texts), "no line is cut in the middle"
    assert "\n".join(texts) == "Tiêu đề\n" + body


def test_emoji_count_twice_as_telegram_counts_them() -> None:
    out = TelegramRenderer().render(Reply.of("🏭" * 3000))  # 6,000 UTF-16 units
    telegram_check(out.messages)
    assert len(out.messages) == 2 and "".join(m.text for m in out.messages) == "🏭" * 3000


def test_more_than_a_hundred_buttons_are_spread_over_messages() -> None:
    rows = [[Choice(f"Xã {i}", "co.pick", str(i))] for i in range(102)]
    out = TelegramRenderer().render(Reply.of("Chọn xã:", choices=rows), continued="(tiếp)")
    telegram_check(out.messages)
    pressed = [b["callback_data"] for m in out.messages for row in m.reply_markup["inline_keyboard"] for b in row]
    assert pressed == [f"co.pick:{i}" for i in range(102)]
    assert out.messages[1].text == "(tiếp)"


def test_callback_data_over_64_bytes_is_refused() -> None:
    assert unpack_callback(pack_callback("ar.s", "12")) == ("ar.s", "12")
    with pytest.raises(ValueError):
        pack_callback("f.c", "ư" * 40)


def test_caption_over_1024_goes_as_its_own_message() -> None:
    photo = MediaRef("m1", "photo", "anh.jpg")
    short = TelegramRenderer().render(Reply.of("Hội chợ", media=photo))
    assert [(m.method, m.text) for m in short.messages] == [("photo", "Hội chợ")]
    long = TelegramRenderer().render(Reply.of("x" * 2000, media=photo, choices=[[Choice("Đăng ký", "ar.s", "1")]]))
    telegram_check(long.messages)
    assert [m.method for m in long.messages] == ["photo", "send"]
    assert long.messages[0].text == "" and long.messages[1].reply_markup is not None


def test_replace_previous_is_an_edit_and_a_short_notice_is_a_toast() -> None:
    edit = TelegramRenderer().render(Reply.of("Trang 2", replace_previous=True))
    assert edit.messages[0].method == "edit"
    toast = TelegramRenderer().render(Reply.of("Đã lưu", notice=True))
    assert toast.messages == [type(toast.messages[0])("notice", "Đã lưu")]
    long_notice = TelegramRenderer().render(Reply.of("x" * 300, notice=True))
    assert long_notice.messages[0].method == "send"


def test_reply_keyboard_and_buttons_in_one_reply_become_two_messages() -> None:
    out = TelegramRenderer().render(Reply.of("Đã lưu.", choices=[[Choice("Mở", "nd.open", "1")]],
                                             keyboard=(("📝 Nhu cầu mới", "📋 Nhu cầu"),)))
    assert "keyboard" in out.messages[0].reply_markup and "inline_keyboard" in out.messages[1].reply_markup


def test_text_renderer_numbers_choices_and_returns_the_menu() -> None:
    reply = Reply.of("Chọn ngành:", choices=[[Choice("Chế biến thực phẩm", "f.c", "food"),
                                               Choice("Cơ khí", "f.c", "mech")], [Choice("Hủy", "f.x")]])
    out = TextRenderer().render(reply, zero=Choice("Menu", "menu"), hint="Gõ số để chọn.")
    (message,) = out.messages
    assert message.text == ("Chọn ngành:\n\n1. Chế biến thực phẩm\n2. Cơ khí\n3. Hủy\n0. Menu\nGõ số để chọn.")
    assert out.menu == {"1": ("f.c", "food"), "2": ("f.c", "mech"), "3": ("f.x", ""), "0": ("menu", "")}
    assert resolve_number(" 2. ", out.menu) == ("f.c", "mech")
    assert resolve_number("²", out.menu) is None and resolve_number("9", out.menu) is None
    assert resolve_number("1" * 30, out.menu) is None


def test_text_renderer_splits_at_2000_in_order() -> None:
    items = [Block(f"{i}. " + "nội dung " * 30) for i in range(30)]
    out = TextRenderer().render(Reply.of(*items, choices=[[Choice("Tiếp", "p", "2")]]))
    assert len(out.messages) > 1 and all(0 < len(m.text) <= TEXT.max_text for m in out.messages)
    joined = "\n\n".join(m.text for m in out.messages)
    assert [int(x.split(".")[0]) for x in joined.split("\n\n")[:-1]] == list(range(30))
    assert out.messages[-1].text.endswith("1. Tiếp")


def test_text_renderer_sends_photos_by_url_and_documents_as_links() -> None:
    def url(ref: MediaRef) -> str:
        return f"https://kc.vn/media/{ref.ref}"

    photo = TextRenderer(media_url=url).render(Reply.of("Hội chợ", media=MediaRef("m1", "photo")))
    assert [(m.text, m.photo_url) for m in photo.messages] == [("Hội chợ", "https://kc.vn/media/m1")]
    doc = TextRenderer(media_url=url).render(Reply.of("Thể lệ", media=MediaRef("m2", "document", "the-le.pdf")))
    assert doc.messages[0].text == "📎 the-le.pdf: https://kc.vn/media/m2\n\nThể lệ"


def test_runs_merge_and_plain_text() -> None:
    parts = ("a", "b", Bold("c"), Bold("d"))
    assert [(r.text, r.bold) for r in runs_of(parts)] == [("ab", False), ("cd", True)]
    assert plain_text(parts) == "abcd"


def test_a_reply_survives_the_outbox_as_json() -> None:
    import json

    from bot.conversation.replies import reply_from_json, reply_to_json

    reply = Reply.of(Block(Bold("Hội chợ ", Italic("Vĩnh Long")), " <2026> ", Link("thể lệ", "https://x.vn"),
                           Code("NC-1")), "Hạn chót 15/4",
                     choices=[[Choice("Đăng ký", "ar.s", "12"), Choice("Không quan tâm", "ar.n", "12")]],
                     media=MediaRef("m1", "photo", None), notice=False)
    stored = json.loads(json.dumps(reply_to_json(reply)))
    assert reply_from_json(stored) == reply
    assert TelegramRenderer().render(reply_from_json(stored)) == TelegramRenderer().render(reply)


def test_a_wide_character_at_the_limit_moves_to_the_next_message() -> None:
    # 4,095 units of text, then bold emoji (2 units each): the first emoji must not make 4,097.
    out = TelegramRenderer().render(Reply.of(Block("a" * 4095, Bold("🏭" * 2))))
    telegram_check(out.messages)
    assert [TelegramHtml.visible_text(m.text) for m in out.messages] == ["a" * 4095, "🏭🏭"]


def test_five_needs_of_a_thousand_characters_fit_every_channel() -> None:
    needs = [Block(Bold(f"NC-2026-{i:04d}"), "\n", ("mô tả <b> & " * 100)[:1000]) for i in range(5)]
    reply = Reply.of(Block(Bold("Dữ liệu của bạn")), *needs)
    telegram = TelegramRenderer().render(reply).messages
    telegram_check(telegram)
    assert len(telegram) == 2 and all("NC-2026-" in TelegramHtml.visible_text(m.text) for m in telegram)
    texts = [m.text for m in TextRenderer().render(reply).messages]
    assert len(texts) == 5 and all(len(t) <= TEXT.max_text for t in texts)  # one need a message
    assert "\n\n".join(texts) == "\n\n".join(plain_text(b.parts) for b in reply.blocks), "split between blocks"


def test_a_file_goes_as_a_document_on_telegram_and_is_left_out_on_text_channels() -> None:
    file = FileData("du-lieu.txt", "Tên: <Lan>".encode())
    short = TelegramRenderer().render(Reply.of(Block(Bold("Tệp"), " <của bạn>"), file=file)).messages
    assert [(m.method, m.text, m.file) for m in short] == [("document", "<b>Tệp</b> &lt;của bạn&gt;", file)]
    long = TelegramRenderer().render(Reply.of("x" * 1500, file=file)).messages
    telegram_check(long)
    assert [(m.method, m.file) for m in long] == [("send", None), ("document", file)] and long[1].text == ""
    (text,) = TextRenderer().render(Reply.of("Dữ liệu của bạn", file=file)).messages
    assert text.text == "Dữ liệu của bạn"
