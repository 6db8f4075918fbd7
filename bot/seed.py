"""Realistic demo data for the sandbox: facilities of An Giang, needs in every status, personas."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import (
    PROJECT_NEED_STATUSES,
    AnnouncementKind,
    CertificationLevel,
    FundingSource,
    NeedCategory,
    NeedStatus,
    ParticipantStatus,
    ProjectStatus,
    Role,
    Sector,
)
from bot.services.communes import CommuneDirectory
from storage import repos
from storage.models import (
    Announcement,
    CertifiedProduct,
    Facility,
    Need,
    NeedEvent,
    Project,
    ProjectNeed,
    Question,
    Signup,
    User,
)


@dataclass(frozen=True)
class Persona:
    id: int
    first_name: str
    label_vi: str
    label_en: str
    role: str
    phone: str | None = None
    language_code: str = "vi"
    channel: str = "telegram"
    zalo_id: str | None = None  # a Zalo persona's id (hex, as Zalo's ids are)

    @property
    def external_id(self) -> str:
        return self.zalo_id if self.channel == "zalo" and self.zalo_id else str(self.id)


STAFF = Persona(1001, "Hà", "Cán bộ Trung tâm Khuyến công", "Centre staff member", "staff", "+84913000001")
CTV_LX = Persona(1002, "Cộng", "Cộng tác viên phường Long Xuyên", "Collaborator, Long Xuyên ward", "collaborator",
                 "+84913000002")
CTV_CD = Persona(1003, "Đức", "Cộng tác viên phường Châu Đốc", "Collaborator, Châu Đốc ward", "collaborator",
                 "+84913000003")
OWNER_1 = Persona(1004, "Lan", "Chủ cơ sở nước mắm (đã đăng ký)", "Fish-sauce maker (registered)", "facility",
                  "+84912345678")
OWNER_2 = Persona(1005, "Minh", "Chủ cơ sở cơ khí (đã đăng ký)", "Mechanics workshop owner (registered)", "facility",
                  "+84987654321")
NEWCOMER = Persona(1006, "Tư", "Người mới (chưa đăng ký)", "Newcomer (not registered)", "new", "+84909111222")
ENGLISH = Persona(1007, "Anna", "Người dùng tiếng Anh (mới)", "English-speaking newcomer", "new", "+84909333444",
                  language_code="en")
# On Zalo: the web chat shows them as a text-only phone (no buttons, numbered menus, 2,000-character bubbles).
ZALO_OWNER = Persona(1011, "Bảy", "Chủ cơ sở khô cá tra, trên Zalo (đã đăng ký)",
                     "Dried-fish maker on Zalo (registered)", "facility", "+84918765432", channel="zalo",
                     zalo_id="7a1b2c3d4e5f60718293")
ZALO_CTV = Persona(1012, "Sa Ly", "Cộng tác viên xã Tịnh Biên, trên Zalo", "Collaborator, Tịnh Biên, on Zalo",
                   "collaborator", "+84913000012", channel="zalo", zalo_id="5c4d3e2f1a0b9c8d7e6f")
ZALO_NEWCOMER = Persona(1013, "Năm", "Người mới trên Zalo (chưa đăng ký)", "Newcomer on Zalo (not registered)", "new",
                        "+84909555666", channel="zalo", zalo_id="3e3e3e3e3e3e3e3e3e3e")
PERSONAS = (STAFF, CTV_LX, CTV_CD, OWNER_1, OWNER_2, NEWCOMER, ENGLISH, ZALO_OWNER, ZALO_CTV, ZALO_NEWCOMER)

# (facility, owner, sector, products, commune search)
FACILITIES = [
    ("Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", Sector.FOOD, "nước mắm, mắm cá linh", "long xuyen"),
    ("Xưởng cơ khí Minh Phát", "Trần Văn Minh", Sector.MECHANICS, "máy gặt đập mini, máy sấy lúa", "chau doc"),
    ("Cơ sở khô cá tra Bảy Lợi", "Lê Văn Bảy", Sector.FOOD, "khô cá tra phồng", "chau doc"),
    ("Cơ sở bánh pía Tân Huê", "Huỳnh Thị Huê", Sector.FOOD, "bánh pía, bánh in", "long xuyen"),
    ("HTX dệt thổ cẩm Văn Giáo", "Néang Sa Ly", Sector.TEXTILE, "khăn rằn, thổ cẩm", "tinh bien"),
    ("Cơ sở đường thốt nốt Ba Thê", "Chau Sóc Kha", Sector.FOOD, "đường thốt nốt, nước thốt nốt", "tri ton"),
    ("Cơ sở rượu nếp Phú Tân", "Phạm Văn Hùng", Sector.FOOD, "rượu nếp, rượu đế", "phu tan"),
    ("Cơ sở đan đát lục bình Mỹ Hòa Hưng", "Võ Thị Mai", Sector.HANDICRAFT, "giỏ, túi lục bình", "my hoa hung"),
    ("Xưởng mộc Chợ Mới", "Đặng Văn Tài", Sector.HANDICRAFT, "bàn ghế gỗ, tủ thờ", "cho moi"),
    ("Cơ sở gạch ngói Thoại Sơn", "Nguyễn Văn Đức", Sector.CONSTRUCTION, "gạch ống, ngói", "thoai son"),
    ("Cơ sở mắm thái Châu Đốc Bà Giáo", "Trần Thị Giáo", Sector.FOOD, "mắm thái, mắm lóc", "chau doc"),
    ("Cơ sở xay xát lúa gạo Tân Châu", "Lý Văn Thành", Sector.FOOD, "gạo thơm, tấm", "tan chau"),
    ("Lò bánh tráng Mỹ Khánh", "Nguyễn Thị Hoa", Sector.FOOD, "bánh tráng, bánh phồng", "my hoa hung"),
    ("Cơ sở tinh dầu tràm An Phú", "Phan Văn Tràm", Sector.FOOD, "tinh dầu tràm", "an phu"),
    ("Cơ sở trà lài Núi Sam", "Lâm Thị Ngọc", Sector.FOOD, "trà lài, trà sen", "vinh te"),
    ("Xưởng may Long Xuyên", "Đỗ Thị Hạnh", Sector.TEXTILE, "quần áo bảo hộ", "long xuyen"),
    ("Cơ sở nước sốt caramel Bình Đức", "Trịnh Văn Phúc", Sector.FOOD, "nước màu dừa, caramel", "binh duc"),
    ("Cơ sở trái nhàu sấy Tri Tôn", "Chau Phol", Sector.FOOD, "trái nhàu sấy khô", "tri ton"),
    ("Cơ sở cà phê bột Châu Phú", "Huỳnh Văn Cường", Sector.FOOD, "cà phê bột rang xay", "chau phu"),
    ("Cơ khí sửa chữa Mỹ Thới", "Bùi Văn Lực", Sector.MECHANICS, "máy bơm nước, ghe xuồng", "my thoi"),
    ("Cơ sở dệt chiếu Long Điền", "Nguyễn Thị Thu", Sector.HANDICRAFT, "chiếu cói, chiếu hoa", "long dien"),
    ("Cơ sở bánh canh Châu Thành", "Tô Văn Sang", Sector.FOOD, "bánh canh, hủ tiếu", "chau thanh"),
    ("Cơ sở nem chua Long Xuyên", "Mai Thị Diễm", Sector.FOOD, "nem chua, chả lụa", "long xuyen"),
    ("Xưởng gỗ mỹ nghệ Óc Eo", "Lê Văn Hậu", Sector.HANDICRAFT, "tượng gỗ, tranh gỗ", "oc eo"),
    ("Cơ sở bột gạo Hòa Lạc", "Dương Thị Bé", Sector.FOOD, "bột gạo, bột năng", "hoa lac"),
    ("Cơ sở khung nhôm kính Châu Đốc", "Quách Văn Kiên", Sector.CONSTRUCTION, "cửa nhôm kính", "chau doc"),
    ("Cơ sở mật ong Tịnh Biên", "Néang Kim", Sector.FOOD, "mật ong rừng tràm", "tinh bien"),
    ("Cơ sở cá lóc khô Phú Hữu", "Võ Văn Nhân", Sector.FOOD, "khô cá lóc", "phu huu"),
    ("Cơ sở đồ gốm An Châu", "Lư Thị Gấm", Sector.HANDICRAFT, "lu, khạp, chậu gốm", "an chau"),
    ("Cơ sở nước đá Vĩnh Hanh", "Hồ Văn Lâm", Sector.OTHER, "nước đá viên", "vinh hanh"),
]

NEED_TEXTS = {
    NeedCategory.MACHINERY: ("Đầu tư máy móc để tăng năng suất, giảm công lao động.",
                             ["Máy sấy lạnh 500 kg/mẻ", "Dây chuyền đóng chai tự động", "Máy xay xát 2 tấn/giờ",
                              "Máy cắt CNC", "Lò hơi tiết kiệm năng lượng"]),
    NeedCategory.TECHNOLOGY: ("Chuyển giao quy trình sản xuất mới, xây dựng mô hình trình diễn.", []),
    NeedCategory.CLEANER: ("Xử lý nước thải và mùi, tiết kiệm điện.", []),
    NeedCategory.FAIR: ("Muốn tham gia hội chợ để giới thiệu sản phẩm, tìm nhà phân phối.", []),
    NeedCategory.COMPETITION: ("Đăng ký bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh.", []),
    NeedCategory.TRAINING: ("Tập huấn quản lý sản xuất và an toàn thực phẩm cho công nhân.", []),
    NeedCategory.CONSULTING: ("Tư vấn thiết kế nhãn hiệu, bao bì và bán hàng trên sàn thương mại điện tử.", []),
    NeedCategory.OTHER: ("Hỗ trợ kết nối tiêu thụ sản phẩm.", []),
}


def _months_after(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s month: a desired month never before the need's receipt."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _filer(collaborators: dict[int | None, User], facility: Facility, i: int) -> int | None:
    """Every other need of a facility without an owner in the bot was filed by its commune's collaborator."""
    collaborator = collaborators.get(facility.commune_code)
    return collaborator.id if collaborator is not None and facility.owner_user_id is None and i % 2 else None
async def _seed_project(session: AsyncSession, *, now: datetime, today: date, staff_id: int | None) -> None:
    """A provincial project holding the approved and supported machinery needs, for the Projects and Reports
    pages: the centre supports 30 % of each machine, the facility pays the rest."""
    project = await repos.add(session, obj=Project(
        name=f"Hỗ trợ ứng dụng máy móc thiết bị tiên tiến năm {today.year}", decision="125/QĐ-SCT",
        funding_source=FundingSource.LOCAL, year=today.year, approved_on=today - timedelta(days=10),
        status=ProjectStatus.IMPLEMENTING, created_by_user_id=staff_id, created_at=now, updated_at=now))
    needs = (await session.exec(select(Need).where(col(Need.category) == NeedCategory.MACHINERY,
                                                    col(Need.status).in_(list(PROJECT_NEED_STATUSES)))
                                .order_by(col(Need.id)))).all()
    for need in needs:
        cost = need.est_cost_million or Decimal(100)
        support = (cost * Decimal("0.3")).quantize(Decimal("0.01"))
        session.add(ProjectNeed(project_id=project.id or 0, need_id=need.id or 0, support_million=support,
                                own_contribution_million=cost - support, added_by_user_id=staff_id, added_at=now))


# A competition held earlier this half-year: (persona, participant status, [(product, level)]).
CONTEST_ENTRIES = (
    (OWNER_1, ParticipantStatus.ACCEPTED, [("Nước mắm cá linh Hưng Thịnh", CertificationLevel.PROVINCIAL),
                                           ("Mắm cá linh Hưng Thịnh", CertificationLevel.REGIONAL)]),
    (ZALO_OWNER, ParticipantStatus.ACCEPTED, [("Khô cá tra phồng Bảy Lợi", CertificationLevel.NATIONAL)]),
    (OWNER_2, ParticipantStatus.DOSSIER, []),
)


async def _seed_contest(session: AsyncSession, *, now: datetime, today: date, staff_id: int | None,
                        users: dict[int, User], facilities: list[Facility]) -> None:
    """A provincial competition already held (in this half-year, so the Reports page shows it) with three
    participants: two accepted with their certified products, one whose dossier is being reviewed."""
    half_start = date(today.year, 1 if today.month <= 6 else 7, 1)
    held = max(today - timedelta(days=20), half_start)
    ann = await repos.add(session, obj=Announcement(
        kind=AnnouncementKind.COMPETITION, title=f"Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh đợt 1 năm {today.year}",
        body="Bình chọn, công nhận sản phẩm công nghiệp nông thôn tiêu biểu cấp tỉnh.", place="Sở Công Thương An Giang",
        starts_on=held, ends_on=held, deadline_on=held, audience={}, status="sent", started_at=now - timedelta(days=40),
        finished_at=now - timedelta(days=40), created_by_user_id=staff_id, created_at=now - timedelta(days=41),
        updated_at=now))
    communes = {f.owner_user_id: f.commune_code for f in facilities if f.owner_user_id}
    for n, (persona, status, products) in enumerate(CONTEST_ENTRIES):
        user = users.get(persona.id)
        if user is None:
            continue
        signed = now - timedelta(days=35 - n)
        signup = await repos.add(session, obj=Signup(
            announcement_id=ann.id or 0, user_id=user.id, status="signed_up", answers={}, signed_up_at=signed,
            completed_at=signed, participant_status=status, participant_changed_at=now - timedelta(days=25),
            participant_changed_by_user_id=staff_id, created_at=signed, updated_at=signed))
        for name, level in products:
            session.add(CertifiedProduct(signup_id=signup.id or 0, name=name, level=level, certified_on=held,
                                         commune_code=communes.get(user.id), recorded_by_user_id=staff_id,
                                         created_at=now))


async def seed(session: AsyncSession, *, clock: Clock, communes: CommuneDirectory, tz: object) -> None:
    """Fill an empty database with demo data; the caller commits."""
    rng = random.Random(2026)
    now = clock.now()
    users: dict[int, User] = {}
    for p in PERSONAS:
        if p.role == "new":
            continue
        commune = None
        if p is CTV_LX:
            commune = communes.search("long xuyen")[0].code
        elif p is CTV_CD:
            commune = communes.search("chau doc")[0].code
        elif p is ZALO_CTV:
            commune = communes.search("tinh bien")[0].code
        role = {"staff": Role.STAFF, "collaborator": Role.COLLABORATOR}.get(p.role, Role.USER)
        users[p.id] = await repos.add(session, obj=User(
            channel=p.channel, external_id=p.external_id, full_name=p.first_name, phone=p.phone, locale=p.language_code,
            role=role, commune_code=commune, consent_at=now, created_at=now - timedelta(days=60), updated_at=now))
    # A collaborator files only for facilities of their own commune.
    collaborators = {u.commune_code: u for u in users.values() if u.role == Role.COLLABORATOR}
    facilities: list[Facility] = []
    for i, (name, owner, sector, products, commune_q) in enumerate(FACILITIES):
        commune = communes.search(commune_q)[0]
        owner_user = {0: users.get(OWNER_1.id), 1: users.get(OWNER_2.id), 2: users.get(ZALO_OWNER.id)}.get(i)
        if owner_user is not None:
            owner_user.full_name = owner
        # A persona's facility has the persona's own phone; the others a made-up one.
        phone = owner_user.phone if owner_user is not None else f"+8491{rng.randrange(1000000, 9999999)}"
        creator = owner_user or collaborators.get(commune.code) or users[STAFF.id]
        facilities.append(await repos.add(session, obj=Facility(
            name=name, owner_name=owner, phone=phone, commune_code=commune.code,
            sector=sector, products=products, owner_user_id=owner_user.id if owner_user else None,
            created_by_user_id=creator.id, consent_at=now,
            created_at=now - timedelta(days=50 - i), updated_at=now)))
    statuses = list(NeedStatus)
    categories = list(NeedCategory)
    for i in range(48):
        facility = facilities[i % len(facilities)]
        category = categories[i % len(categories)]
        status = statuses[i % len(statuses)]
        text, machines = NEED_TEXTS[category]
        created = now - timedelta(days=48 - i, hours=rng.randrange(0, 8))  # all in the past, the last yesterday
        machine = rng.choice(machines) if machines else None
        cost = Decimal(rng.choice([35, 80, 120, 150, 250, 480])) if machines else None
        # Most machinery needs say what the facility pays itself (30 % of the cost); some left it open.
        own = (cost * Decimal("0.3")).quantize(Decimal("0.01")) if cost is not None and i % 3 else None
        need = await repos.add(session, obj=Need(
            facility_id=facility.id, commune_code=facility.commune_code, category=category, description=text,
            machine=machine, est_cost_million=cost, own_contribution_million=own,
            desired_month=_months_after(created.astimezone(tz).date(), 1 + i % 12),  # type: ignore[arg-type]
            status=status,
            decline_reason="Chưa đủ điều kiện theo Nghị định 45/2012/NĐ-CP." if status == "declined" else None,
            registrant_user_id=facility.owner_user_id,
            filed_by_user_id=_filer(collaborators, facility, i),
            created_at=created, updated_at=created,
        ))
        need.ref = f"NC-{created.astimezone(tz).year}-{need.id:04d}"  # type: ignore[arg-type]
        session.add(NeedEvent(need_id=need.id or 0, to_status=status, created_at=created))
    today = now.astimezone(tz).date()  # type: ignore[arg-type]
    await _seed_project(session, now=now, today=today, staff_id=users[STAFF.id].id)
    await _seed_contest(session, now=now, today=today, staff_id=users[STAFF.id].id, users=users,
                        facilities=facilities)
    # A fair that goes out as soon as the sandbox starts, so every persona finds it in their chat…
    session.add(Announcement(
        kind=AnnouncementKind.FAIR, title="Hội chợ hàng công nghiệp nông thôn tiêu biểu khu vực phía Nam 2026",
        body="Trung tâm Khuyến công hỗ trợ <b>gian hàng miễn phí</b> và chi phí vận chuyển cho 12 cơ sở. "
             "Ưu tiên sản phẩm đạt chứng nhận CNNT tiêu biểu.",
        place="Trung tâm Hội nghị tỉnh Vĩnh Long", starts_on=today + timedelta(days=24),
        ends_on=today + timedelta(days=28), deadline_on=today + timedelta(days=10),
        questions=["Sản phẩm dự kiến trưng bày?", "Cần mấy gian hàng?"], audience={}, status="scheduled",
        scheduled_at=now, created_by_user_id=users[STAFF.id].id, created_at=now, updated_at=now))
    # …and a product competition left as a draft, for staff to target, preview and send during a demo.
    session.add(Announcement(
        kind=AnnouncementKind.COMPETITION, title="Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh năm 2026",
        body="Hồ sơ gồm: phiếu đăng ký, bản thuyết minh sản phẩm, giấy chứng nhận an toàn thực phẩm (nếu có). "
             "Sản phẩm đạt giải được hỗ trợ tham gia bình chọn cấp khu vực.",
        place="Sở Công Thương An Giang", deadline_on=today + timedelta(days=30), audience={}, status="draft",
        created_by_user_id=users[STAFF.id].id, created_at=now, updated_at=now))
    # Questions sent from the bot, for the console's Conversations page: two waiting, one answered.
    asked = [(ZALO_OWNER, "zalo", "Máy sấy cá của tôi bị kẹt băng tải, trung tâm có hỗ trợ sửa chữa không?", None),
             (CTV_LX, "telegram", "Cơ sở bà Năm ở phường Long Xuyên hỏi có được vay vốn mua máy đóng gói không?", None),
             (OWNER_1, "telegram", "Khi nào trung tâm mở lớp tập huấn an toàn thực phẩm?",
              "Dạ, lớp tập huấn dự kiến mở vào tháng 5; trung tâm sẽ gửi thông báo qua trợ lý.")]
    for hours, (persona, channel, text, answer) in enumerate(asked, start=1):
        if persona.id not in users:
            continue
        at = now - timedelta(hours=5 * hours)
        session.add(Question(user_id=users[persona.id].id, channel=channel, text=text,
                             status="answered" if answer else "open", created_at=at, answer=answer,
                             answered_at=at + timedelta(hours=1) if answer else None,
                             answered_by_user_id=users[STAFF.id].id if answer else None))
    await session.flush()
