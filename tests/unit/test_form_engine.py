"""The channel-neutral form engine over the product's declared forms."""

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pytest

from bot.services.communes import CommuneDirectory, CommuneLookup
from bot.services.forms import (
    EDIT,
    SUMMARY,
    Candidates,
    Choice,
    ChoiceInput,
    ContactInput,
    Done,
    FileInput,
    FormState,
    Invalid,
    TextInput,
)
from bot.services.forms.definitions import FORMS, NEW_FACILITY, SECTOR_CHOICES
from bot.services.forms.engine import Advanced, FormEngine

CHOOSE_OPTION = "Please choose one of the options below."
CONSENT_REFUSED = ("We can only register your facility with your consent. Choose “I agree” to continue, "
                   "or Cancel to stop — nothing has been saved.")
NOTHING_MATCHES = "Nothing matches “{query}”. Please try another part of the name."
NO_LONGER_AVAILABLE = "That choice is no longer available. Please search again."
REQUIRED = "This answer is required."
SEND_FILE = "Please send a photo or a document, or choose Skip."
USE_BUTTONS = "Please choose one of the options below: Confirm, Edit or Cancel."
TEXT_ONLY = "Please answer with a text message."

LONG_XUYEN = "Phường Long Xuyên"


@pytest.fixture(scope="module")
def communes() -> CommuneLookup:
    return CommuneLookup(CommuneDirectory(91))


@pytest.fixture
def engine() -> FormEngine:
    return FormEngine(FORMS, today=lambda: date(2026, 3, 2))


class FakeFacilities:
    """A LookupProvider over two facilities of the collaborator's commune, plus “new”."""

    facilities = {"7": "Cơ sở nước mắm Hưng Thịnh", "8": "Cơ sở bánh pía Hưng Phát"}

    async def search(self, query: str, context: Mapping[str, Any]) -> Sequence[Choice]:
        return [Choice(k, v, translate=False) for k, v in self.facilities.items() if query.lower() in v.lower()]

    async def get(self, value: str, context: Mapping[str, Any]) -> Choice | None:
        if value == NEW_FACILITY:
            return Choice(NEW_FACILITY, "➕ New facility")
        name = self.facilities.get(value)
        return Choice(value, name, translate=False) if name else None

    async def browse(self, context: Mapping[str, Any]) -> Sequence[Choice]:
        return [Choice(NEW_FACILITY, "➕ New facility"), *(Choice(k, v, False) for k, v in self.facilities.items())]


def assert_json_state(state: FormState) -> FormState:
    """The state survives the trip through the database's JSON columns unchanged."""
    dumped = json.dumps(dataclasses.asdict(state))
    restored = FormState(**json.loads(dumped))
    assert restored == state
    return restored


async def walk(engine: FormEngine, state: FormState, answers: list[Any], providers: Mapping[str, Any] | None = None
               ) -> Any:
    outcome: Any = None
    for inp in answers:
        outcome = await engine.answer(state, inp, providers)
        assert isinstance(outcome, Advanced | Done), (state.step, inp, outcome)
        assert_json_state(state)
    return outcome


def message_of(outcome: Any) -> str:
    assert isinstance(outcome, Invalid), outcome
    return outcome.message.msgid


# --- registration ---


async def test_registration_walks_fields_in_order_and_stores_clean_answers(engine, communes) -> None:
    providers = {"commune": communes}
    state = engine.start("register")
    order = []
    answers = [
        TextInput("  Cơ sở  nước mắm\u200b Hưng Thịnh  "),
        TextInput("Nguyễn Thị Lan"),
        ContactInput("+84912345678"),
        TextInput("long xuyen"),
        ChoiceInput("food"),
        TextInput("nước mắm, khô cá"),
        ChoiceInput("yes"),
    ]
    for inp in answers:
        order.append(state.step)
        assert isinstance(await engine.answer(state, inp, providers), Advanced)
    assert order == ["facility_name", "owner_name", "phone", "commune", "sector", "products", "consent"]
    assert state.step == SUMMARY
    done = engine.confirm(state)
    assert done == Done({
        "facility_name": "Cơ sở nước mắm Hưng Thịnh",
        "owner_name": "Nguyễn Thị Lan",
        "phone": "+84912345678",
        "commune": str(communes.directory.search("long xuyen")[0].code),
        "commune__label": LONG_XUYEN,
        "sector": "food",
        "products": "nước mắm, khô cá",
        "consent": "yes",
    })


async def test_step_describes_back_and_skip(engine) -> None:
    state = engine.start("register")
    first = engine.step(state)
    assert (first.kind, first.field.name, first.can_back, first.can_skip) == ("text", "facility_name", False, False)
    await engine.answer(state, TextInput("Cơ sở Hưng Thịnh"))
    assert engine.step(state).can_back is True


async def test_text_answer_refused_keeps_the_step(engine) -> None:
    state = engine.start("register")
    outcome = await engine.answer(state, TextInput("🙂🙂"))
    assert message_of(outcome) == "Please write it with letters or digits, not only symbols or emoji."
    assert state.step == "facility_name"
    assert state.data == {}
    assert message_of(await engine.answer(state, ChoiceInput("food"))) == TEXT_ONLY


async def _at_commune(engine: FormEngine) -> FormState:
    state = engine.start("register")
    await walk(engine, state, [TextInput("Cơ sở Hưng Thịnh"), TextInput("Nguyễn Thị Lan"), TextInput("0912 345 678")])
    assert state.step == "commune"
    return state


async def test_commune_lookup_single_match_is_taken_directly(engine, communes) -> None:
    state = await _at_commune(engine)
    assert isinstance(await engine.answer(state, TextInput("long xuyen"), {"commune": communes}), Advanced)
    assert state.data["commune__label"] == LONG_XUYEN
    assert communes.directory.name(int(state.data["commune"])) == LONG_XUYEN
    assert state.step == "sector"


async def test_ambiguous_commune_offers_candidates_then_accepts_a_pick(engine, communes) -> None:
    providers = {"commune": communes}
    state = await _at_commune(engine)
    outcome = await engine.answer(state, TextInput("chau"), providers)
    assert isinstance(outcome, Candidates)
    assert outcome.query == "chau"
    labels = [c.label for c in outcome.choices]
    assert "Phường Châu Đốc" in labels and "Phường Tân Châu" in labels
    assert state.step == "commune"
    assert "commune" not in state.data
    assert_json_state(state)
    pick = next(c for c in outcome.choices if c.label == "Phường Tân Châu")
    assert isinstance(await engine.answer(state, ChoiceInput(pick.value), providers), Advanced)
    assert state.data["commune"] == pick.value
    assert state.data["commune__label"] == "Phường Tân Châu"
    assert "_query" not in state.context
    assert state.step == "sector"


@pytest.mark.parametrize("forged", ["999999", "abc", "", "4"])  # 4 is Phường Ba Đình, Hà Nội
async def test_forged_lookup_choice_is_refused(engine, communes, forged: str) -> None:
    state = await _at_commune(engine)
    outcome = await engine.answer(state, ChoiceInput(forged), {"commune": communes})
    assert message_of(outcome) == NO_LONGER_AVAILABLE
    assert state.step == "commune"
    assert "commune" not in state.data


async def test_commune_with_no_match_names_the_query(engine, communes) -> None:
    state = await _at_commune(engine)
    outcome = await engine.answer(state, TextInput("  xyz  "), {"commune": communes})
    assert message_of(outcome) == NOTHING_MATCHES
    assert outcome.message.params == {"query": "xyz"}
    assert state.step == "commune"


# --- choices ---


async def _at_sector(engine: FormEngine, communes: CommuneLookup) -> FormState:
    state = await _at_commune(engine)
    await walk(engine, state, [TextInput("long xuyen")], {"commune": communes})
    assert state.step == "sector"
    return state


async def test_choice_button_value_is_accepted(engine, communes) -> None:
    state = await _at_sector(engine, communes)
    assert isinstance(await engine.answer(state, ChoiceInput("handicraft")), Advanced)
    assert state.data["sector"] == "handicraft"


@pytest.mark.parametrize(("typed", "index"), [("1", 0), (" 2 ", 1), ("6", 5)])
async def test_typed_number_picks_that_choice(engine, communes, typed: str, index: int) -> None:
    state = await _at_sector(engine, communes)
    assert isinstance(await engine.answer(state, TextInput(typed)), Advanced)
    assert state.data["sector"] == SECTOR_CHOICES[index].value


@pytest.mark.parametrize("inp", [TextInput("bánh pía"), TextInput("0"), TextInput("7"), ChoiceInput("forged")])
async def test_unknown_choice_is_refused(engine, communes, inp: Any) -> None:
    state = await _at_sector(engine, communes)
    assert message_of(await engine.answer(state, inp)) == CHOOSE_OPTION
    assert state.step == "sector"
    assert "sector" not in state.data


async def _at_consent(engine: FormEngine, communes: CommuneLookup) -> FormState:
    state = await _at_sector(engine, communes)
    await walk(engine, state, [ChoiceInput("food"), TextInput("nước mắm")])
    assert state.step == "consent"
    return state


@pytest.mark.parametrize("inp", [ChoiceInput("no"), TextInput("2"), TextInput("no")])
async def test_refusing_consent_is_explained_and_stays_on_consent(engine, communes, inp: Any) -> None:
    state = await _at_consent(engine, communes)
    assert message_of(await engine.answer(state, inp)) == CONSENT_REFUSED
    assert state.step == "consent"
    assert "consent" not in state.data
    assert engine.confirm(state) is None


async def test_consent_yes_reaches_summary_and_confirm_returns_clean_data(engine, communes) -> None:
    state = await _at_consent(engine, communes)
    assert isinstance(await engine.answer(state, ChoiceInput("yes")), Advanced)
    assert state.step == SUMMARY
    assert engine.step(state).kind == SUMMARY
    assert message_of(await engine.answer(state, TextInput("ok"))) == USE_BUTTONS
    done = engine.confirm(state)
    assert isinstance(done, Done)
    assert done.data["consent"] == "yes"
    assert set(done.data) == {"facility_name", "owner_name", "phone", "commune", "commune__label", "sector",
                              "products", "consent"}


# --- conditional fields (need form) ---

FILE = FileInput("FILE-1", "document", "bao-gia.pdf")


async def test_machinery_asks_machine_and_cost(engine) -> None:
    state = engine.start("need")
    steps = []
    for inp in [ChoiceInput("machinery"), TextInput("Cần máy sấy"), TextInput("Máy sấy lạnh 500 kg/mẻ"),
                TextInput("150 triệu"), TextInput("45 tr"), TextInput("5/2026"), FILE]:
        steps.append(state.step)
        assert isinstance(await engine.answer(state, inp), Advanced)
    assert steps == ["category", "description", "machine", "est_cost", "own_contribution", "desired_month",
                     "attachment"]
    assert engine.clean(state) == {
        "category": "machinery", "description": "Cần máy sấy", "machine": "Máy sấy lạnh 500 kg/mẻ",
        "est_cost": "150.00", "own_contribution": "45.00", "desired_month": "2026-05-01",
        "attachment": {"file_id": "FILE-1", "kind": "document", "name": "bao-gia.pdf"},
    }


async def test_training_skips_machine_and_cost(engine) -> None:
    state = engine.start("need")
    steps = []
    for inp in [ChoiceInput("training"), TextInput("Tập huấn quản lý"), TextInput("5/2026")]:
        steps.append(state.step)
        await engine.answer(state, inp)
    assert steps == ["category", "description", "desired_month"]
    assert state.step == "attachment"


async def _machinery_at_summary(engine: FormEngine) -> FormState:
    state = engine.start("need")
    await walk(engine, state, [ChoiceInput("machinery"), TextInput("Cần máy sấy"), TextInput("Máy sấy lạnh"),
                               TextInput("150"), TextInput("40"), TextInput("5/2026"), FILE])
    assert state.step == SUMMARY
    return state


async def _training_at_summary(engine: FormEngine) -> FormState:
    state = engine.start("need")
    await walk(engine, state, [ChoiceInput("training"), TextInput("Tập huấn"), TextInput("5/2026"), FILE])
    assert state.step == SUMMARY
    return state


async def test_edit_machinery_to_training_drops_machine_fields(engine) -> None:
    state = await _machinery_at_summary(engine)
    assert engine.to_edit_menu(state)
    assert state.step == EDIT
    assert [c.value for c in engine.step(state).choices] == [
        "category", "description", "machine", "est_cost", "own_contribution", "desired_month", "attachment"]
    assert isinstance(await engine.answer(state, ChoiceInput("category")), Advanced)
    assert state.step == "category"
    assert_json_state(state)
    assert isinstance(await engine.answer(state, ChoiceInput("training")), Advanced)
    assert state.step == SUMMARY
    clean = engine.confirm(state).data
    assert clean["category"] == "training"
    assert "machine" not in clean and "est_cost" not in clean and "own_contribution" not in clean
    assert [f.name for f, _ in engine.summary(state)] == ["category", "description", "desired_month", "attachment"]


async def test_edit_training_to_machinery_asks_machine_fields_then_summary(engine) -> None:
    state = await _training_at_summary(engine)
    assert engine.edit(state, "category")
    await engine.answer(state, ChoiceInput("machinery"))
    assert state.step == "machine"
    assert engine.confirm(state) is None
    await engine.answer(state, TextInput("Máy đóng gói"))
    assert state.step == "est_cost"
    await engine.answer(state, TextInput("12,5"))
    assert state.step == "own_contribution" and engine.step(state).can_skip
    assert isinstance(engine.skip(state), Advanced)
    assert state.step == SUMMARY
    clean = engine.confirm(state).data
    assert clean["machine"] == "Máy đóng gói"
    assert clean["est_cost"] == "12.50" and clean["own_contribution"] is None
    assert clean["description"] == "Tập huấn"  # untouched answers are kept


OVER_COST = ("The own contribution you typed, {contribution} million đồng, is more than the estimated cost "
             "({cost} million đồng). Please type an amount from 0 to {cost} million đồng, or skip this question.")
BELOW_OWN = ("The estimated cost you typed, {cost} million đồng, is less than the facility's own contribution "
             "({contribution} million đồng). Please type at least {contribution} million đồng, or go back and "
             "change the own contribution first.")


async def _at_own_contribution(engine: FormEngine, cost: str = "12,5") -> FormState:
    state = engine.start("need")
    await walk(engine, state, [ChoiceInput("machinery"), TextInput("Cần máy sấy"), TextInput("Máy sấy lạnh"),
                               TextInput(cost)])
    assert state.step == "own_contribution"
    return state


async def test_own_contribution_above_the_cost_is_refused_naming_both_amounts(engine) -> None:
    state = await _at_own_contribution(engine)
    outcome = await engine.answer(state, TextInput("1.500"))
    assert isinstance(outcome, Invalid)
    assert outcome.message.msgid == OVER_COST
    assert outcome.message.render(lambda m: m) == OVER_COST.format(contribution="1.500", cost="12,5")
    assert state.step == "own_contribution" and "own_contribution" not in state.data
    assert state.data["est_cost"] == "12.50"  # nothing already answered is lost
    assert isinstance(await engine.answer(state, TextInput("12,5")), Advanced)  # the whole cost is allowed
    assert state.data["own_contribution"] == "12.50"


@pytest.mark.parametrize(("typed", "stored"), [("0", "0.00"), ("3,75", "3.75"), ("4 triệu", "4.00")])
async def test_own_contribution_may_be_zero_or_part_of_the_cost(engine, typed: str, stored: str) -> None:
    state = await _at_own_contribution(engine)
    assert isinstance(await engine.answer(state, TextInput(typed)), Advanced)
    assert state.step == "desired_month" and state.data["own_contribution"] == stored


@pytest.mark.parametrize("typed", ["-5", "năm triệu"])
async def test_own_contribution_must_be_an_amount_of_zero_or_more(engine, typed: str) -> None:
    state = await _at_own_contribution(engine)
    outcome = await engine.answer(state, TextInput(typed))
    assert isinstance(outcome, Invalid) and state.step == "own_contribution"
    assert outcome.message.msgid in ("The amount cannot be negative. Please type 0 or more, in million đồng.",
                                     "Please type the amount in million đồng using digits, e.g. 150 or 12,5.")


@pytest.mark.parametrize("typed", ["bỏ qua", "skip", "-"])
async def test_own_contribution_can_be_skipped_by_typing(engine, typed: str) -> None:
    state = await _at_own_contribution(engine)
    assert isinstance(await engine.answer(state, TextInput(typed)), Advanced)
    assert state.step == "desired_month" and state.data["own_contribution"] is None


async def test_a_changed_cost_below_the_own_contribution_is_refused(engine) -> None:
    state = await _machinery_at_summary(engine)  # cost 150, own contribution 40
    assert engine.edit(state, "est_cost")
    outcome = await engine.answer(state, TextInput("30"))
    assert isinstance(outcome, Invalid)
    assert outcome.message.render(lambda m: m) == BELOW_OWN.format(cost="30", contribution="40")
    assert state.step == "est_cost" and state.data["own_contribution"] == "40.00"
    assert isinstance(await engine.answer(state, TextInput("40")), Advanced)
    assert state.step == SUMMARY and state.data["est_cost"] == "40.00"
    # The own contribution can be changed up to the cost, not beyond.
    assert engine.edit(state, "own_contribution")
    assert isinstance(await engine.answer(state, TextInput("41")), Invalid)
    assert isinstance(await engine.answer(state, TextInput("40")), Advanced)
    assert engine.confirm(state).data["own_contribution"] == "40.00"


async def test_edit_of_a_field_that_does_not_apply_is_refused(engine) -> None:
    state = await _training_at_summary(engine)
    assert engine.edit(state, "machine") is False
    assert engine.edit(state, "no_such_field") is False
    assert state.step == SUMMARY


# --- Back ---


async def test_back_returns_to_previous_field_and_forgets_its_answer(engine) -> None:
    state = engine.start("register")
    await walk(engine, state, [TextInput("Cơ sở Hưng Thịnh"), TextInput("Nguyễn Thị Lan")])
    assert state.step == "phone"
    assert engine.back(state) is True
    assert state.step == "owner_name"
    assert "owner_name" not in state.data
    assert state.data["facility_name"] == "Cơ sở Hưng Thịnh"
    assert engine.back(state) is True
    assert state.step == "facility_name"
    assert state.data == {}
    assert engine.back(state) is False
    assert state.step == "facility_name"


async def test_back_on_first_field_returns_false(engine) -> None:
    state = engine.start("need")
    assert engine.back(state) is False
    assert state.step == "category"


async def test_back_over_a_lookup_forgets_its_label(engine, communes) -> None:
    state = await _at_sector(engine, communes)
    assert engine.back(state)
    assert state.step == "commune"
    assert "commune" not in state.data and "commune__label" not in state.data


async def test_back_undoes_the_latest_answer_and_skips_fields_that_no_longer_apply(engine) -> None:
    state = await _machinery_at_summary(engine)
    engine.edit(state, "category")
    await engine.answer(state, ChoiceInput("training"))
    assert state.step == SUMMARY
    assert engine.back(state) and state.step == "category"  # the answer just changed
    await engine.answer(state, ChoiceInput("training"))
    assert engine.back(state) and state.step == "category"
    assert engine.back(state) and state.step == "attachment"
    assert engine.back(state) and state.step == "desired_month"
    # machine, est_cost and own_contribution were answered but no longer apply: Back goes past them.
    assert engine.back(state) and state.step == "description"
    assert not {"machine", "est_cost", "own_contribution"} & set(state.data)


async def test_back_while_editing_restores_the_old_value(engine) -> None:
    state = await _machinery_at_summary(engine)
    assert engine.edit(state, "est_cost")
    assert "est_cost" not in state.data
    assert engine.step(state).can_back is True
    assert engine.back(state) is True
    assert state.step == SUMMARY
    assert state.data["est_cost"] == "150.00"


async def test_back_while_editing_a_lookup_restores_value_and_label(engine, communes) -> None:
    state = await _at_consent(engine, communes)
    await engine.answer(state, ChoiceInput("yes"))
    old = (state.data["commune"], state.data["commune__label"])
    assert engine.edit(state, "commune")
    outcome = await engine.answer(state, TextInput("chau"), {"commune": communes})
    assert isinstance(outcome, Candidates)
    assert engine.back(state) is True
    assert state.step == SUMMARY
    assert (state.data["commune"], state.data["commune__label"]) == old
    assert engine.confirm(state).data["commune__label"] == LONG_XUYEN


async def test_back_from_edit_menu_returns_to_summary(engine) -> None:
    state = await _training_at_summary(engine)
    engine.to_edit_menu(state)
    assert engine.back(state) is True
    assert state.step == SUMMARY


async def test_back_from_field_opened_by_an_edit_keeps_other_answers(engine) -> None:
    state = await _training_at_summary(engine)
    engine.edit(state, "category")
    await engine.answer(state, ChoiceInput("machinery"))
    assert state.step == "machine"
    assert engine.back(state) is True
    assert state.data.get("attachment") == {"file_id": "FILE-1", "kind": "document", "name": "bao-gia.pdf"}
    assert state.step == "category"


# --- Skip ---


async def _at_attachment(engine: FormEngine) -> FormState:
    state = engine.start("need")
    await walk(engine, state, [ChoiceInput("training"), TextInput("Tập huấn"), TextInput("5/2026")])
    assert state.step == "attachment"
    return state


async def test_skipping_optional_attachment_stores_none(engine) -> None:
    state = await _at_attachment(engine)
    assert engine.step(state).can_skip is True
    assert isinstance(engine.skip(state), Advanced)
    assert state.step == SUMMARY
    assert state.data["attachment"] is None
    assert engine.confirm(state).data["attachment"] is None


async def test_skip_on_required_field_is_invalid(engine) -> None:
    state = engine.start("need")
    assert engine.step(state).can_skip is False
    assert message_of(engine.skip(state)) == REQUIRED
    assert state.step == "category"
    assert state.data == {}


@pytest.mark.parametrize("typed", ["bỏ qua", "Bo qua", "skip", "-", "không"])
async def test_typed_skip_word_skips_optional_fields(engine, typed: str) -> None:
    state = await _at_attachment(engine)
    assert isinstance(await engine.answer(state, TextInput(typed)), Advanced)
    assert state.data["attachment"] is None
    assert state.step == SUMMARY


async def test_typed_skip_word_on_required_text_is_a_normal_answer(engine) -> None:
    state = engine.start("register")
    await engine.answer(state, TextInput("bỏ qua"))
    assert state.data["facility_name"] == "bỏ qua"


async def test_typed_skip_on_optional_phone(engine) -> None:
    state = engine.start("need_proxy", context={"commune_code": 1})
    await walk(engine, state, [ChoiceInput(NEW_FACILITY), TextInput("Cơ sở mới"), TextInput("Trần Văn B")],
               {"facility": FakeFacilities()})
    assert state.step == "new_phone"
    await engine.answer(state, TextInput("bỏ qua"))
    assert state.data["new_phone"] is None
    assert state.step == "new_sector"


# --- files and phones ---


@pytest.mark.parametrize("inp", [TextInput("đây là báo giá"), ContactInput("+84912345678"), ChoiceInput("x")])
async def test_file_field_rejects_anything_but_a_file(engine, inp: Any) -> None:
    state = await _at_attachment(engine)
    assert message_of(await engine.answer(state, inp)) == SEND_FILE
    assert state.step == "attachment"
    assert "attachment" not in state.data


async def test_file_field_accepts_a_photo(engine) -> None:
    state = await _at_attachment(engine)
    await engine.answer(state, FileInput("PHOTO-1", "photo"))
    assert state.data["attachment"] == {"file_id": "PHOTO-1", "kind": "photo", "name": None}


async def _at_phone(engine: FormEngine) -> FormState:
    state = engine.start("register")
    await walk(engine, state, [TextInput("Cơ sở Hưng Thịnh"), TextInput("Nguyễn Thị Lan")])
    return state


@pytest.mark.parametrize("inp", [ContactInput("84912345678"), ContactInput("+84912345678"),
                                 TextInput("0912 345 678"), TextInput("0912.345.678")])
async def test_phone_accepts_contact_and_typed_numbers(engine, inp: Any) -> None:
    state = await _at_phone(engine)
    assert isinstance(await engine.answer(state, inp), Advanced)
    assert state.data["phone"] == "+84912345678"
    assert engine.display_value(state.data, FORMS["register"].field("phone")) == "0912 345 678"


async def test_phone_refuses_garbage_and_files(engine) -> None:
    state = await _at_phone(engine)
    assert message_of(await engine.answer(state, TextInput("12345"))) == (
        "That doesn't look like a phone number. Please type it like 0912 345 678.")
    assert message_of(await engine.answer(state, FILE)) == (
        "Please share your phone number with the button, or type it.")
    assert state.step == "phone"


# --- persistence ---


async def test_state_is_json_serialisable_at_every_step(engine, communes) -> None:
    providers = {"commune": communes, "facility": FakeFacilities()}
    state = engine.start("need_proxy", context={"commune_code": 1})
    assert_json_state(state)
    script: list[Any] = [
        TextInput("hưng"),  # two matches: candidates
        ChoiceInput(NEW_FACILITY), TextInput("Cơ sở mới"), TextInput("Trần Văn B"), TextInput("0912 345 678"),
        ChoiceInput("food"), ChoiceInput("machinery"), TextInput("Cần máy"), TextInput("Máy sấy"),
        TextInput("12,5"), TextInput("0"), TextInput("5/2026"), FILE,
    ]
    for inp in script:
        await engine.answer(state, inp, providers)
        state = assert_json_state(state)  # continue from the restored copy, as after a restart
    assert state.step == SUMMARY
    assert engine.to_edit_menu(state)
    state = assert_json_state(state)
    await engine.answer(state, ChoiceInput("attachment"), providers)
    state = assert_json_state(state)  # the saved old answer (a dict) is in the context
    assert engine.back(state)
    state = assert_json_state(state)
    assert state.step == SUMMARY
    assert engine.confirm(state).data["attachment"]["file_id"] == "FILE-1"


# --- filing on behalf (need_proxy) ---


async def test_new_facility_asks_the_new_facility_fields(engine) -> None:
    providers = {"facility": FakeFacilities()}
    state = engine.start("need_proxy", context={"commune_code": 1})
    steps = []
    for inp in [ChoiceInput(NEW_FACILITY), TextInput("Cơ sở bánh tét"), TextInput("Trần Văn B"),
                TextInput("0912 345 678"), ChoiceInput("food"), ChoiceInput("training")]:
        steps.append(state.step)
        assert isinstance(await engine.answer(state, inp, providers), Advanced)
    assert steps == ["facility", "new_name", "new_owner", "new_phone", "new_sector", "category"]
    assert state.data["facility__label"] == "➕ New facility"
    # The summary shows it in the reader's language ("➕ Thêm cơ sở mới"), a facility's name as it is.
    facility = next(value for fld, value in engine.summary(state) if fld.name == "facility")
    assert (facility.label, facility.translate) == ("➕ New facility", True)


async def test_existing_facility_goes_straight_to_the_need(engine) -> None:
    providers = {"facility": FakeFacilities()}
    state = engine.start("need_proxy", context={"commune_code": 1})
    assert isinstance(await engine.answer(state, TextInput("bánh pía"), providers), Advanced)
    assert state.data["facility"] == "8"
    assert state.data["facility__label"] == "Cơ sở bánh pía Hưng Phát"
    assert state.step == "category"
    await walk(engine, state, [ChoiceInput("training"), TextInput("Tập huấn"), TextInput("5/2026")], providers)
    engine.skip(state)
    clean = engine.confirm(state).data
    assert not any(k.startswith("new_") for k in clean)


async def test_switching_to_an_existing_facility_drops_new_facility_answers(engine) -> None:
    providers = {"facility": FakeFacilities()}
    state = engine.start("need_proxy", context={"commune_code": 1})
    await walk(engine, state, [ChoiceInput(NEW_FACILITY), TextInput("Cơ sở mới"), TextInput("Trần Văn B"),
                               TextInput("-"), ChoiceInput("food"), ChoiceInput("training"), TextInput("Tập huấn"),
                               TextInput("5/2026"), FILE], providers)
    assert state.step == SUMMARY
    assert engine.edit(state, "facility")
    await engine.answer(state, ChoiceInput("7"), providers)
    assert state.step == SUMMARY
    clean = engine.confirm(state).data
    assert clean["facility"] == "7"
    assert clean["facility__label"] == "Cơ sở nước mắm Hưng Thịnh"
    assert not any(k.startswith("new_") for k in clean)
