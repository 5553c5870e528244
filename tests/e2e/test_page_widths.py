"""No page is wider than the screen (issue 26, 8): with a 250-character file name, a
100-character token name and an admin's lists, at a phone's 390 px and a laptop's 1366 px,
long names wrap or scroll inside their own box."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import User
from app.tokens import create_token

from ..sheets.books import write_xlsx

pytestmark = pytest.mark.e2e

LONG_NAME = ("Quarterly-report-" * 15)[:245] + ".xlsx"  # 250 characters
TOKEN_NAME = "nightly-export-for-the-finance-team-" * 3  # about 100 characters


@pytest.fixture
def admin_with_long_names(app, make_user, tmp_path):
    make_user(email="root@example.com", password="a long password", admin=True)
    make_user(email=f"{'someone.with.a.long.address.' * 4}x@example.com")  # the dashboard's
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email="root@example.com"))
        create_token(user, TOKEN_NAME[:100])
    return write_xlsx(tmp_path / LONG_NAME, {"A sheet with a long name, too": [["a" * 300], [1]]})


def overflow(page):
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", [390, 1366])
def test_no_page_is_wider_than_the_screen(browser, server, admin_with_long_names, width):
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto("/auth/login")
    page.get_by_label("Email").fill("root@example.com")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Log in").click()
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(admin_with_long_names)
    page.get_by_role("button", name="Convert right away").click()
    expect(page.get_by_role("link", name="Download")).to_be_visible(timeout=30_000)
    file_page = page.url
    for path in (
        file_page,
        "/history",
        "/profile",
        "/admin/",
        "/admin/conversions",
        "/admin/audit",
    ):
        page.goto(path)
        assert overflow(page) <= 0, f"{path} is {overflow(page)} px wider than {width} px"
        # Nor squeezed: no cell of a table narrower than a short word.
        narrowest = page.evaluate(
            "Math.min(...[...document.querySelectorAll('main td')]"
            ".filter(td => td.textContent.trim()).map(td => td.getBoundingClientRect().width))"
        )
        assert narrowest >= 40, f"a table cell on {path} is {narrowest} px wide at {width} px"
    context.close()
