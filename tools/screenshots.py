"""Screenshots of the main flow, taken from the real app in Debian's chromium.

    .venv/bin/python tools/screenshots.py          # the README's pictures, into docs/screenshots/
    .venv/bin/python tools/screenshots.py --walk   # every page state at 1280x800 and 390x844,
                                                   # light and dark, into test-artifacts/walk/
    .venv/bin/python tools/screenshots.py --measure  # how far Convert is: pixels, Tab presses

The app runs with a throwaway instance folder (SQLite, files) on a free port; the workbook
shown is generated here, so the pictures can be refreshed at any time.
"""

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def sample_workbook(folder):
    import datetime as dt

    import xlsxwriter

    path = Path(folder) / "sales.xlsx"
    book = xlsxwriter.Workbook(str(path))
    money = book.add_format({"num_format": "#,##0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    orders = book.add_worksheet("Orders")
    regions = ["North", "South", "East", "West"]
    products = ["Desk lamp", "Café table", "Bookshelf", "Armchair", "Rug (wool)"]
    orders.write_row(0, 0, ["Order", "Date", "Customer", "Region", "Product", "Amount", "Paid"])
    for i in range(1, 241):
        orders.write_string(i, 0, f"SO-{i:05}")
        orders.write_datetime(i, 1, dt.datetime(2024, 3, 1) + dt.timedelta(days=i // 3), day)
        orders.write_string(i, 2, ["Zoë Martin", "Jérôme Petit", "Ana Silva", "Li Wei"][i % 4])
        orders.write_string(i, 3, regions[i % 4])
        orders.write_string(i, 4, products[i % 5])
        orders.write_number(i, 5, 19.5 + (i * 37) % 400, money)
        orders.write_boolean(i, 6, i % 3 != 0)
    summary = book.add_worksheet("Summary")
    summary.write_row(0, 0, ["Region", "Orders", "Total"])
    for row, region in enumerate(regions, start=1):
        summary.write_row(row, 0, [region, 60, 12_000 + row * 431.25])
    book.close()
    return path


def start_app(instance):
    os.environ["SHEETPORT_INSTANCE_PATH"] = str(instance)
    from werkzeug.serving import make_server

    from app import create_app
    from app.extensions import db
    from app.models import Role

    app = create_app(
        "development",
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'shots.sqlite'}", "DEBUG": False},
    )
    with app.app_context():
        db.create_all()
        Role.insert_roles()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def open_browser(playwright):
    from tests.e2e.conftest import CHROMIUM_FLAGS, chromium_path

    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)


def convert_flow(page, workbook, shot):
    """Home -> upload -> preview -> convert -> result; `shot(name)` at each state."""
    from playwright.sync_api import expect

    page.goto("/")
    shot("home")
    page.get_by_label("Choose a file").set_input_files(workbook)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".preview-table")).to_be_visible()
    shot("preview")
    page.get_by_role("navigation", name="Sheets").get_by_role("link", name="Summary 5 × 3").click()
    page.get_by_label("Convert to").select_option("xlsx")
    shot("preview-xlsx")
    page.locator("#more-options summary").click()
    shot("more-options")
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=30_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    shot("result")


def text_file_states(page, folder, shot):
    """A legacy semicolon CSV in Windows-1252 with decimal commas: read-as and the XLSX options."""
    from playwright.sync_api import expect

    source = Path(folder) / "clients.csv"
    source.write_bytes(
        "Nom;Ville;Montant;Date\nJérôme;Besançon;47,91;02/03/2024\nAnaïs;Nîmes;1.234,50;15/03/2024\n".encode(
            "cp1252"
        )
    )
    page.goto("/convert")
    page.get_by_label("Choose a file").set_input_files(source)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".preview-table")).to_be_visible()
    page.get_by_label("Convert to").select_option("xlsx")
    shot("text-file")


def walk_rest(page, shot):
    from playwright.sync_api import expect

    page.goto("/history")
    shot("history")
    page.get_by_role("link", name="Delete…").first.click()
    shot("delete-confirm")
    page.goto("/history/end-session")
    shot("end-session-confirm")
    page.goto("/auth/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    shot("login-error")
    page.goto("/auth/register")
    shot("register")
    page.goto("/help")
    shot("help")


def readme_shots(browser, base_url, workbook, folder):
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    wanted = {"home": "1-home.png", "preview": "2-preview.png", "result": "3-result.png"}

    def shot(name):
        if name in wanted:
            page.screenshot(path=folder / wanted[name])

    convert_flow(page, workbook, shot)
    context.close()
    return [folder / name for name in wanted.values()]


def walk(browser, base_url, workbook, folder):
    folder.mkdir(parents=True, exist_ok=True)
    taken = []
    for size, (width, height) in SIZES.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(
                base_url=base_url, viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page = context.new_page()
            page.set_default_timeout(15_000)

            def shot(name, page=page, size=size, scheme=scheme):
                path = folder / f"{name}-{size}-{scheme}.png"
                page.screenshot(path=path, full_page=True)
                taken.append(path)

            convert_flow(page, workbook, shot)
            text_file_states(page, workbook.parent, shot)
            walk_rest(page, shot)
            context.close()
    return taken


def measure(browser, base_url, workbook):
    """Where the main action is on the preview page, and what an upload costs in page loads."""
    figures = {}
    for size, (width, height) in SIZES.items():
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}
        )
        page = context.new_page()
        previews = []
        page.on(
            "request",
            lambda r, previews=previews: (
                previews.append(r.url) if r.method == "GET" and "/convert/" in r.url else None
            ),
        )
        page.goto("/")
        page.get_by_label("Choose a file").set_input_files(workbook)
        page.get_by_role("button", name="Upload and preview").click()
        page.locator(".preview-table").wait_for()
        figures[f"{size}: page loads of the preview per upload"] = len(previews)
        figures[f"{size}: top of the Convert button, px"] = round(
            page.evaluate("document.getElementById('submit').getBoundingClientRect().top + scrollY")
        )
        page.locator("body").focus()
        for presses in range(1, 100):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "submit":
                figures[f"{size}: Tab presses to Convert, skip link not used"] = presses
                break
        context.close()
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walk", action="store_true", help="every state, both sizes and themes")
    parser.add_argument("--measure", action="store_true", help="print where Convert is")
    parser.add_argument("--out", type=Path, help="folder for the pictures")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as temporary:
        instance = Path(temporary) / "instance"
        instance.mkdir()
        workbook = sample_workbook(temporary)
        server, base_url = start_app(instance)
        try:
            with sync_playwright() as playwright:
                browser = open_browser(playwright)
                if args.measure:
                    for name, figure in measure(browser, base_url, workbook).items():
                        print(f"{name}: {figure}")
                    taken = []
                elif args.walk:
                    taken = walk(
                        browser, base_url, workbook, args.out or ROOT / "test-artifacts" / "walk"
                    )
                else:
                    taken = readme_shots(
                        browser, base_url, workbook, args.out or ROOT / "docs" / "screenshots"
                    )
                browser.close()
        finally:
            server.shutdown()
    for path in taken:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
