"""The web UI in a real browser (Debian's Chromium, driven by Playwright) on a live stack."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveStack

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VALUE = "ui-secret-value-24601"
# The flags this workplace documents for headless Chromium without network access.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (make test installs it as root)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _signed_in(browser: Browser, live_stack: LiveStack, token: str) -> Page:
    page = browser.new_page()
    page.goto(live_stack.url + "/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Secrets")).to_be_visible()
    expect(page.locator("#signin")).to_be_hidden()
    return page


def test_create_list_edit_delete_with_live_key_validation(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = _signed_in(browser, live_stack, live_stack.token("uiorg", sub="alice"))
    page.get_by_role("button", name="Create Secret").click()
    dialog = page.locator("#secret-dialog")
    key = dialog.get_by_label("Key")
    key.fill("1BAD")
    expect(page.locator("#secret-key-error")).to_have_text(
        "invalid key: key must start with a letter (a-z, A-Z)"
    )
    key.fill("BAD-KEY")
    expect(page.locator("#secret-key-error")).to_have_text(
        "invalid key: key may contain only ASCII letters, digits and underscores"
    )
    key.fill("UI_SECRET")
    expect(page.locator("#secret-key-error")).to_have_text("")
    dialog.get_by_label("Value").fill(VALUE)
    dialog.get_by_role("button", name="Save").click()
    row = page.locator("tr", has_text="UI_SECRET")
    expect(row).to_contain_text("vendor")
    expect(row).to_contain_text("1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "secrets-page.png"), full_page=True)
    assert VALUE not in page.content()

    page.get_by_role("button", name="Edit UI_SECRET").click()
    expect(dialog.get_by_label("Key")).to_have_js_property("readOnly", True)
    expect(dialog.get_by_label("Value")).to_have_value("")
    dialog.get_by_label("Value").fill(VALUE + "-2")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text="UI_SECRET")).to_contain_text("2")
    assert VALUE not in page.content()

    page.get_by_role("button", name="Delete UI_SECRET").click()
    expect(page.get_by_role("heading", name="Delete secret")).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("tr", has_text="UI_SECRET")).to_have_count(0)
    page.close()


def test_read_only_users_see_no_buttons_that_would_fail(
    browser: Browser, live_stack: LiveStack
) -> None:
    admin = live_stack.token("uiorg2")
    live_stack.sigil("secrets", "create", "SHOWN", token=admin, stdin="shown-value-1")
    page = _signed_in(browser, live_stack, live_stack.token("uiorg2", role="read_only"))
    expect(page.locator("tr", has_text="SHOWN")).to_be_visible()
    expect(page.get_by_role("button", name="Create Secret")).to_be_hidden()
    expect(page.get_by_role("button", name="Edit SHOWN")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit")).to_be_hidden()
    page.close()


def test_customers_see_only_their_own_secrets(browser: Browser, live_stack: LiveStack) -> None:
    admin = live_stack.token("uiorg3")
    live_stack.sigil("secrets", "create", "VENDOR_ONLY", token=admin, stdin="vendor-value-1")
    live_stack.sigil(
        "secrets", "create", "MINE", "--customer-org", "c1", token=admin, stdin="mine-value-11"
    )
    live_stack.sigil(
        "secrets", "create", "THEIRS", "--customer-org", "c2", token=admin, stdin="theirs-value-1"
    )
    vendor = _signed_in(browser, live_stack, admin)
    expect(vendor.locator("#secrets-rows tr")).to_have_count(3)
    vendor.locator("#customer-filter").fill("c2")
    vendor.get_by_role("button", name="Filter").click()
    expect(vendor.locator("#secrets-rows tr")).to_have_count(1)
    vendor.close()
    customer = _signed_in(browser, live_stack, live_stack.token("uiorg3", customer="c1"))
    expect(customer.locator("#secrets-rows tr")).to_have_count(1)
    expect(customer.locator("tr", has_text="MINE")).to_be_visible()
    expect(customer.locator("#customer-filter")).to_be_hidden()
    customer.close()


def test_template_check_shows_errors_at_their_line(browser: Browser, live_stack: LiveStack) -> None:
    page = _signed_in(browser, live_stack, live_stack.token("uiorg4"))
    page.get_by_role("link", name="Template check").click()
    page.get_by_label(".env file").fill("A=1\nB={{ .Secrets.NOPE }}\n")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#template-result")).to_contain_text(
        'envFile:2:13: template execution error: template: envFile:2:13: executing "envFile"'
    )
    expect(page.locator("#template-result")).to_contain_text("Missing: NOPE")
    page.close()
