"""The main journeys over real HTTP: the bot's own polling loop, a separate process, the sandbox server."""

from __future__ import annotations

import re

from tests.e2e.harness import STAFF, BotProcess, Person


async def register(p: Person, name: str = "Cơ sở nước mắm Hưng Thịnh") -> None:
    first = await p.say("/start")
    assert "Tên cơ sở của anh/chị là gì?" in first["text"]
    await p.say(name)
    await p.say("Nguyễn Thị Lan")
    mark = p.server.last_seq()
    await p.server.send_contact(p.id, "+84912345678")
    await p.next_message(mark, contains="long xuyen")  # the commune question follows the saved phone
    await p.say("long xuyen")
    await p.press("f.c:register|sector|food")
    await p.say("nước mắm, khô cá")
    await p.press("f.c:register|consent|yes")
    done = await p.press("f.ok:register|__summary__|")
    assert "đã được đăng ký" in done["text"]


async def file_need(p: Person) -> str:
    await p.say("/need")
    await p.press("f.c:need|category|machinery")
    await p.say("Mở rộng sản xuất")
    await p.say("Máy sấy lạnh 500 kg/mẻ")
    await p.say("150")
    await p.say("50")  # the facility's own contribution
    await p.say("5/2027")
    await p.press("f.s:need|attachment|")
    done = await p.press("f.ok:need|__summary__|")
    ref = re.search(r"NC-\d{4}-\d{4}", done["text"])
    assert ref, done["text"]
    return ref.group(0)


async def test_new_facility_registers_and_files_a_need(server, bot: BotProcess) -> None:
    lan = Person(server, 2001)
    await register(lan)
    ref = await file_need(lan)
    needs = await lan.say("/needs")
    assert ref in needs["text"] and "Đã tiếp nhận" in needs["text"]


async def test_staff_invites_a_collaborator_who_files_for_a_facility(server, bot: BotProcess) -> None:
    staff = Person(server, STAFF, first_name="Hà")
    await staff.say("/start")
    await staff.say("/invite")
    await staff.press("f.c:invite|role|collaborator")
    link = await staff.say("my hoa hung")
    token = re.search(r"https://t\.me/\w+\?start=([A-Za-z0-9_-]+)", link["text"]).group(1)
    ctv = Person(server, 2002, first_name="Cộng")
    intro = await ctv.say(f"/start {token}")
    assert "Xã Mỹ Hòa Hưng" in intro["text"]
    await ctv.say("Lê Văn Cộng")
    await ctv.say("0987 654 321")
    joined = await ctv.press("f.ok:join|__summary__|")
    assert "Xã Mỹ Hòa Hưng" in joined["text"]
    await ctv.say("/need")
    await ctv.press("f.c:need_proxy|facility|new")
    await ctv.say("Cơ sở đan đát lục bình Mỹ Hòa")
    await ctv.say("Võ Thị Mai")
    await ctv.press("f.s:need_proxy|new_phone|")
    await ctv.press("f.c:need_proxy|new_sector|handicraft")
    await ctv.press("f.c:need_proxy|category|consulting")
    await ctv.say("Thiết kế nhãn hiệu và bao bì")
    await ctv.say("8/2027")
    await ctv.press("f.s:need_proxy|attachment|")
    done = await ctv.press("f.ok:need_proxy|__summary__|")
    assert re.search(r"NC-\d{4}-\d{4}", done["text"])
    again = await Person(server, 2003).say(f"/start {token}")
    assert "đã được sử dụng" in again["text"]  # single use


async def test_staff_approves_and_the_registrant_is_told(server, bot: BotProcess) -> None:
    lan = Person(server, 2004)
    await register(lan)
    ref = await file_need(lan)
    staff = Person(server, STAFF, first_name="Hà")
    await staff.say("/inbox")
    detail = await staff.press("ib.o:", edits=True)
    assert ref in detail["text"]
    mark = server.last_seq()
    message_id, data = await staff.wait_button("ib.m:")
    assert "|surveyed|" in data
    await server.press(staff.id, message_id, data)
    told = await lan.next_message(mark, contains="Đã khảo sát")
    assert ref in told["text"]
    await server.wait_for(staff.id, lambda e: e["kind"] == "edit" and "ib.m:" in str(e["message"]), after=mark)
    message_id, data = staff.button("ib.m:")  # the detail was edited: now Approve
    assert "|approved|" in data
    await server.press(staff.id, message_id, data)
    told = await lan.next_message(mark, contains="Đã duyệt")
    assert ref in told["text"]


async def test_killed_mid_form_then_restarted_the_user_finishes(server, bot: BotProcess) -> None:
    lan = Person(server, 2005)
    await lan.say("/start")
    await lan.say("Cơ sở bánh pía Tân Huê")
    await lan.say("Huỳnh Thị Huê")
    await bot.kill()
    await bot.start()
    mark = server.last_seq()
    await server.send_contact(lan.id, "+84912345678")  # the phone step, where she was
    await lan.next_message(mark, contains="long xuyen")
    await lan.say("long xuyen")
    await lan.press("f.c:register|sector|food")
    await lan.say("bánh pía")
    await lan.press("f.c:register|consent|yes")
    done = await lan.press("f.ok:register|__summary__|")
    assert "Cơ sở bánh pía Tân Huê" in done["text"] and "đã được đăng ký" in done["text"]


async def test_flood_control_on_replies_is_waited_out(server, bot: BotProcess) -> None:
    lan = Person(server, 2006)
    server.faults.update({"next_429": 2, "retry_after": 1})
    reply = await lan.say("/help", timeout=20)
    assert "/need" in reply["text"]
    assert server.stats["429"] >= 2
