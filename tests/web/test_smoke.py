from __future__ import annotations

from tests.web.conftest import Console


async def test_pages_render_for_staff(console: Console) -> None:
    need = await console.add_need()
    await console.sign_in_as("staff")
    for path in ("/", "/needs", f"/needs/{need.id}", "/log"):
        r = await console.client.get(path)
        assert r.status_code == 200, (path, r.text[:2000])
