"""Account journeys in a real browser."""

import re

from playwright.sync_api import expect

from app.cli import make_admin

from .conftest import ARTIFACTS

pytestmark = __import__("pytest").mark.e2e


def mail_link(smtp, path):
    """The newest link to `path` in the mail that arrived."""
    for index in reversed(range(len(smtp.inbox.messages))):
        found = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", smtp.inbox.text(index))
        if found:
            return found.group(1)
    raise AssertionError(f"no mail with a {path} link")


def register(page, name="Grace Hopper", email="grace@example.com", password="a long password"):
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    page.get_by_role("button", name="Create account").click()


def log_in(page, email, password):
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_register_confirm_login_logout(page, smtp):
    register(page)
    expect(page.get_by_role("status")).to_contain_text("We sent it to grace@example.com")

    page.goto(mail_link(smtp, "/auth/confirm/"))
    expect(page.get_by_role("status")).to_contain_text("Your email address is confirmed")

    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("nav-user")).to_have_text("Grace Hopper")

    page.get_by_test_id("nav-user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    # Flask-Moment rendered the times in the browser (the element loses its marker class).
    expect(page.locator(".flask-moment")).to_have_count(0)
    expect(page.locator("dd time").first).not_to_be_empty()

    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("You have been logged out.")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_kept_logged_in_on_two_browsers_then_log_out_everywhere(page, browser, server, make_user):
    make_user(email="ada@example.com", password="a long password")
    laptop = browser.new_context(base_url=server.url).new_page()
    for tab in (page, laptop):
        tab.goto("/auth/login")
        tab.get_by_label("Email").fill("ada@example.com")
        tab.get_by_label("Password").fill("a long password")
        tab.get_by_label("Keep me logged in").check()
        tab.get_by_role("button", name="Log in").click()
        expect(tab.get_by_test_id("nav-user")).to_be_visible()

    page.goto("/profile")
    expect(page.get_by_test_id("login-session")).to_have_count(2)
    expect(page.get_by_text("This browser")).to_be_visible()
    page.get_by_role("button", name="Log out everywhere").click()
    expect(page.get_by_role("status")).to_contain_text("logged out on every device")

    # The other browser's session and remember-me cookies no longer sign it in.
    laptop.goto("/profile")
    expect(laptop).to_have_url(re.compile(r"/auth/login"))
    laptop.context.close()


def test_registration_errors_shown_next_to_fields(page):
    page.goto("/auth/register")
    page.get_by_label("Your name").fill("Grace")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat password").fill("different")
    page.get_by_role("button", name="Create account").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("not-an-address")
    expect(page.locator("#email-error")).to_contain_text("Enter a valid email address")
    expect(page.locator("#password-error")).to_contain_text("Use between 8 and 128 characters.")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")


def test_forgotten_password_reset(page, smtp, app):
    with app.app_context():
        make_admin("boss@example.com", "old password 1")
    page.goto("/auth/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account exists")

    page.goto(mail_link(smtp, "/auth/reset/"))
    page.get_by_label("New password", exact=True).fill("new password 2")
    page.get_by_label("Repeat new password").fill("new password 2")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password has been reset")

    log_in(page, "boss@example.com", "new password 2")
    expect(page.get_by_test_id("nav-user")).to_be_visible()


def test_admin_logs_in_and_sees_dashboard(page, app):
    with app.app_context():
        make_admin("boss@example.com", "admin password")
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill("admin password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Admin dashboard")).to_be_visible()
    expect(page.get_by_role("link", name="Admin", exact=True)).to_be_visible()


def test_contact_message_reaches_admin(page, smtp):
    page.goto("/contact")
    page.get_by_label("Your name").fill("Linus")
    page.get_by_label("Your email").fill("linus@example.com")
    page.get_by_label("Subject").fill("Question")
    page.get_by_label("Message").fill("How are ODS dates handled?")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_contain_text("your message was sent")
    envelope, message = smtp.inbox.messages[-1]
    assert envelope.rcpt_tos == ["admin@example.com"]
    assert "How are ODS dates handled?" in smtp.inbox.text()


def test_404_page(page):
    response = page.goto("/no/such/page")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.get_by_role("link", name="Go to the home page").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_theme_switch_is_remembered(page):
    page.goto("/help")
    page.get_by_role("button", name="Dark theme").click()
    expect(page).to_have_url(re.compile(r"/help$"))
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    page.get_by_role("button", name="Light theme").click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")


def test_auto_theme_follows_the_device(browser, server):
    context = browser.new_context(base_url=server.url, color_scheme="dark")
    page = context.new_page()
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    context.close()


def test_pages_fit_a_phone(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 375, "height": 740})
    page = context.new_page()
    for path in ("/", "/auth/login", "/auth/register", "/help", "/contact"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    page.get_by_role("button", name="Show navigation").click()
    expect(page.get_by_role("link", name="Help").first).to_be_visible()
    context.close()


def test_screenshots_of_home_and_login(page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto("/")
    page.screenshot(path=ARTIFACTS / "home.png", full_page=True)
    page.goto("/auth/login")
    page.screenshot(path=ARTIFACTS / "login.png", full_page=True)
    assert (ARTIFACTS / "home.png").stat().st_size > 10_000


def test_a_visitors_file_is_in_history_after_registering(page, smtp, tmp_path):
    """Issue 26, 6: quick-convert as a visitor, register, confirm, log in: the file is
    there, at its own address and in History."""
    from ..sheets.books import write_xlsx

    book = write_xlsx(tmp_path / "inventar.xlsx", {"Lager": [["item", "count"], ["nails", 40]]})
    page.goto("/")
    page.get_by_label("Choose a file").set_input_files(book)
    page.get_by_role("button", name="Convert right away").click()
    expect(page.get_by_role("link", name=re.compile("Download"))).to_be_visible(timeout=30_000)
    address = page.url
    register(page)
    page.goto(mail_link(smtp, "/auth/confirm/"))
    log_in(page, "grace@example.com", "a long password")
    expect(page.get_by_role("status").first).to_contain_text("from before you signed in")
    page.goto(address)
    expect(page.get_by_role("heading", level=1)).to_have_text("inventar.xlsx")
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_test_id("history")).to_contain_text("inventar.xlsx")


def test_deleting_my_account(page, smtp, tmp_path):
    """Issue 26, 8: a person deletes their own account from the profile; their file goes
    with it, they are signed out, the admins hear of it, and the address can sign up anew."""
    from ..sheets.books import write_xlsx

    register(page)
    page.goto(mail_link(smtp, "/auth/confirm/"))
    log_in(page, "grace@example.com", "a long password")
    book = write_xlsx(tmp_path / "mine.xlsx", {"S": [["a"], [1]]})
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(book)
    page.get_by_role("button", name="Convert right away").click()
    expect(page.get_by_role("link", name=re.compile("Download"))).to_be_visible(timeout=30_000)
    address = page.url

    page.get_by_test_id("nav-user").click()
    page.get_by_role("link", name="Delete my account").click()
    page.get_by_role("button", name="Delete my account and files").click()
    expect(page.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Your password").fill("a long password")
    page.get_by_role("button", name="Delete my account and files").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Your account and all your files were deleted."
    )
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert page.goto(address).status == 404
    subjects = [message["Subject"] for _, message in smtp.inbox.messages]
    assert any("Account deleted" in subject for subject in subjects), subjects
    log_in(page, "grace@example.com", "a long password")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    expect(page.get_by_test_id("nav-user")).to_have_count(0)
