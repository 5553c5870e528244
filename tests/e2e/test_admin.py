"""An admin at work in a real browser."""

import pytest
from playwright.sync_api import expect

from app.cli import make_admin
from app.extensions import db
from app.models import User

pytestmark = pytest.mark.e2e


def test_admin_finds_a_user_changes_their_role_and_sees_the_audit_entry(page, app):
    with app.app_context():
        make_admin("boss@example.com", "admin password")
        for email in ("grace@example.com", "alan@example.com"):
            member = User(email=email, name=email.split("@")[0].title(), confirmed=True)
            member.set_password("a long password")
            db.session.add(member)
        db.session.commit()
    page.goto("/auth/login")
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill("admin password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("link", name="Users").click()
    page.get_by_role("searchbox", name="Search by email or name").fill("grace")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="alan@example.com")).to_have_count(0)
    page.get_by_role("link", name="grace@example.com").click()
    page.get_by_label("Role").select_option(label="Administrator")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("role User -> Administrator")
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tbody")).to_contain_text("grace@example.com: role User -> Administrator")
    expect(page.locator("tbody")).to_contain_text("boss@example.com")
