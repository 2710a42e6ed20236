"""The web UI in a real browser (Debian's Chromium, driven by Playwright) on a live stack.

Screenshots of each screen are kept under tests/artifacts/ (ui-*.png) for review.
"""

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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

from playwright.sync_api import (  # noqa: E402
    Browser,
    Page,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _sign_in(page: Page, token: str) -> None:
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Secrets")).to_be_visible()
    expect(page.locator("#signin")).to_be_hidden()


def _signed_in(
    browser: Browser, live_stack: LiveStack, token: str, viewport: ViewportSize | None = None
) -> Page:
    page = browser.new_page(viewport=viewport) if viewport else browser.new_page()
    page.goto(live_stack.url + "/")
    _sign_in(page, token)
    return page


def _create(
    live_stack: LiveStack, token: str, key: str, value: str, customer: str | None = None
) -> None:
    """Create a secret over the API (quicker than a sigil process per secret)."""
    body = {"key": key, "value": value}
    if customer:
        body["customerOrganizationId"] = customer
    resp = httpx.post(
        f"{live_stack.url}/api/v1/secrets",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def _forged(claims: dict[str, object]) -> str:
    """A JWT-shaped token with these claims and a signature no server accepts."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


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
    _shot(page, "secrets")
    assert VALUE not in page.content()

    page.get_by_role("button", name="Edit UI_SECRET").click()
    expect(dialog.get_by_label("Key")).to_have_js_property("readOnly", True)
    expect(dialog.get_by_label("Value")).to_have_value("")
    dialog.get_by_label("Value").fill(VALUE + "-2")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text="UI_SECRET")).to_contain_text("2")
    assert VALUE not in page.content()

    page.get_by_role("button", name="History of UI_SECRET").click()
    history = page.locator("#history-dialog")
    expect(history.get_by_role("heading", name="History of UI_SECRET")).to_be_visible()
    expect(history.locator("tbody tr")).to_have_count(2)
    expect(history.locator("tbody tr").nth(0)).to_contain_text("2")
    expect(history.locator("tbody tr").nth(0)).to_contain_text("alice")
    expect(history.locator("tbody tr").nth(1)).to_contain_text("1")
    _shot(page, "history")
    assert VALUE not in page.content()
    history.get_by_role("button", name="Close").click()

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
    expect(customer.locator("#scope-filter")).to_be_hidden()
    customer.close()


def test_search_by_key_and_scope_filter(browser: Browser, live_stack: LiveStack) -> None:
    admin = live_stack.token("uiorg5")
    for key, customer in [
        ("DB_PASSWORD", None),
        ("DB_USER", "c1"),
        ("API_TOKEN", None),
        ("API_TOKEN", "c1"),
        ("SMTP_PASSWORD", "c2"),
    ]:
        _create(live_stack, admin, key, f"value-of-{key}", customer)
    page = _signed_in(browser, live_stack, admin)
    rows = page.locator("#secrets-rows tr")
    expect(rows).to_have_count(5)
    page.get_by_label("Search by key").fill("password")
    expect(rows).to_have_count(2)
    expect(page.locator("#secrets-status")).to_have_text("2 of 5 secrets match “password”")
    page.get_by_label("Search by key").fill("")
    page.get_by_label("Scope").select_option("vendor")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row.locator("td").nth(1)).to_have_text("vendor")
    page.get_by_label("Scope").select_option("customer")
    expect(page.locator("#secrets-status")).to_have_text(
        "Enter a customer organization id to filter by."
    )
    page.locator("#customer-filter").fill("c1")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    page.get_by_label("Search by key").fill("api")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("c1")
    _shot(page, "search")
    page.close()


def test_short_values_are_flagged_when_saved_and_in_the_list(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = _signed_in(browser, live_stack, live_stack.token("uiorg6"))
    page.get_by_role("button", name="Create Secret").click()
    dialog = page.locator("#secret-dialog")
    dialog.get_by_label("Key").fill("PIN")
    dialog.get_by_label("Value").fill("q7")
    dialog.get_by_role("button", name="Save").click()
    warning = page.locator("#short-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("PIN is too short to be masked")
    expect(page.locator("tr", has_text="PIN")).to_contain_text("too short to mask")
    _shot(page, "short-value")
    page.get_by_role("button", name="Edit PIN").click()
    dialog.get_by_label("Value").fill("a-long-enough-value")
    dialog.get_by_role("button", name="Save").click()
    expect(warning).to_be_hidden()
    expect(page.locator("tr", has_text="PIN")).not_to_contain_text("too short to mask")
    page.close()


def test_edit_shows_key_and_scope_as_read_only(browser: Browser, live_stack: LiveStack) -> None:
    admin = live_stack.token("uiorg7")
    _create(live_stack, admin, "FIXED", "fixed-value", "c9")
    page = _signed_in(browser, live_stack, admin)
    page.get_by_role("button", name="Create Secret").click()
    dialog = page.locator("#secret-dialog")
    editable = dialog.get_by_label("Key").evaluate("e => getComputedStyle(e).backgroundColor")
    expect(dialog.locator("[data-readonly-tag]").first).to_be_hidden()
    dialog.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Edit FIXED").click()
    key = dialog.get_by_label("Key")
    scope = dialog.get_by_label("Customer organization (empty for vendor level)")
    expect(key).to_have_value("FIXED")
    expect(scope).to_have_value("c9")
    for field in (key, scope):
        expect(field).to_have_js_property("readOnly", True)
        assert field.evaluate("e => getComputedStyle(e).backgroundColor") != editable
        assert field.evaluate("e => getComputedStyle(e).borderStyle") == "dashed"
    expect(dialog.locator("[data-readonly-tag]")).to_have_count(2)
    for tag in dialog.locator("[data-readonly-tag]").all():
        expect(tag).to_be_visible()
        expect(tag).to_have_text("read-only")
    expect(dialog.locator("#secret-readonly-help")).to_be_visible()
    key.fill("RENAMED", force=True)
    expect(key).to_have_value("FIXED")
    _shot(page, "edit-read-only")
    page.close()


def test_expired_token_is_refused_at_sign_in_with_a_clear_message(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = browser.new_page()
    page.goto(live_stack.url + "/")
    expired = _forged({"sub": "u1", "org": "uiorg8", "role": "admin", "exp": int(time.time()) - 60})
    page.get_by_label("Access token").fill(expired)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("That token expired at")
    expect(page.locator("#signin-error")).to_contain_text("sigil token")
    expect(page.locator("#app")).to_be_hidden()
    _shot(page, "expired-token")
    page.get_by_label("Access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("That is not a valid token")
    page.close()


def test_session_ends_when_the_token_expires(browser: Browser, live_stack: LiveStack) -> None:
    admin = live_stack.token("uiorg12")
    _create(live_stack, admin, "EXPIRING_VIEW", "expiring-value")
    short = live_stack.sigil(
        "token", "--org", "uiorg12", "--role", "admin", "--sub", "u1", "--ttl", "600"
    ).stdout.strip()
    page = browser.new_page()
    page.clock.install()  # the page's timers and Date, so ten minutes pass at once
    page.goto(live_stack.url + "/")
    _sign_in(page, short)
    expect(page.locator("tr", has_text="EXPIRING_VIEW")).to_be_visible()
    page.clock.fast_forward("10:01")
    # The browser signs out at exp by itself (the server would still allow 30 s of skew).
    expect(page.locator("#signin-error")).to_have_text(
        "Your token expired; sign in again with a new one."
    )
    expect(page.locator("#app")).to_be_hidden()
    assert "EXPIRING_VIEW" not in page.content()
    assert page.evaluate("sessionStorage.length") == 0
    page.close()


def test_token_the_server_refuses_returns_to_sign_in(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = browser.new_page()
    page.goto(live_stack.url + "/")
    # Unexpired, so the browser lets it through; the server (wrong signature) answers 401.
    forged = _forged({"sub": "u1", "org": "uiorg8", "role": "admin", "exp": int(time.time()) + 600})
    page.get_by_label("Access token").fill(forged)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("The server refused this token")
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    page.close()


def test_sign_out_clears_everything_including_log_lines(
    browser: Browser, live_stack: LiveStack
) -> None:
    admin = live_stack.token("uiorg9", sub="first-user")
    canary = "first-users-log-line-31337"
    published = live_stack.sigil(
        "logs", "publish", "web1", "--org", "uiorg9", token=admin, stdin=f"{canary}\n"
    )
    assert published.returncode == 0, published.stderr
    _create(live_stack, admin, "FIRST_USERS_KEY", "first-value")
    page = _signed_in(browser, live_stack, admin)
    expect(page.locator("tr", has_text="FIRST_USERS_KEY")).to_be_visible()
    page.get_by_label("Search by key").fill("FIRST")
    page.get_by_role("link", name="Template check").click()
    page.get_by_label(".env file").fill("FIRST_TEMPLATE={{ .Secrets.NOPE }}\n")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#template-result")).to_contain_text("NOPE")
    page.get_by_role("link", name="Logs").click()
    page.get_by_label("Deployment").fill("web1")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#logs-output")).to_contain_text(canary, timeout=20_000)
    # Sign out while the next page of logs is on its way: its answer must not come back.
    held: list[Route] = []

    def hold(route: Route) -> None:  # Playwright calls a Python function, not a builtin
        held.append(route)

    page.route("**/api/v1/deployments/web1/logs?*", hold)
    page.get_by_role("button", name="Show").click()
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the logs request was not sent"
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    with page.expect_response("**/api/v1/deployments/web1/logs?*"):
        held[0].continue_()
    page.wait_for_timeout(500)  # time for a late answer to be (wrongly) shown
    html = page.content()
    for leftover in (canary, "FIRST_USERS_KEY", "FIRST_TEMPLATE", "first-user", "uiorg9", "web1"):
        assert leftover not in html, leftover
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("document.getElementById('key-search').value") == ""
    _sign_in(page, live_stack.token("uiorg10", sub="second-user"))
    page.get_by_role("link", name="Logs").click()
    expect(page.locator("#logs-output")).to_have_text("")
    expect(page.get_by_label("Deployment")).to_have_value("")
    assert canary not in page.content()
    page.close()


def test_narrow_screen_layout(browser: Browser, live_stack: LiveStack) -> None:
    admin = live_stack.token("uiorg11")
    _create(live_stack, admin, "A_RATHER_LONG_KEY_NAME_FOR_A_PHONE", "long-v1")
    page = _signed_in(browser, live_stack, admin, viewport={"width": 375, "height": 740})
    expect(page.locator("tr", has_text="A_RATHER_LONG_KEY_NAME_FOR_A_PHONE")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    nav = page.locator("nav.sidebar").bounding_box()
    main = page.locator("main").bounding_box()
    assert nav is not None
    assert main is not None
    assert main["y"] >= nav["y"] + nav["height"] - 1  # navigation on top, content below
    assert main["width"] >= 370
    # Each row is a card labelled by its column names.
    first_cell = page.locator("#secrets-rows tr").first.locator("td").nth(1)
    assert first_cell.evaluate("e => getComputedStyle(e, '::before').content") == '"Scope: "'
    _shot(page, "narrow")
    page.get_by_role("button", name="Edit A_RATHER_LONG_KEY_NAME_FOR_A_PHONE").click()
    box = page.locator("#secret-dialog").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 375
    _shot(page, "narrow-edit")
    page.close()


def test_template_check_shows_errors_at_their_line(browser: Browser, live_stack: LiveStack) -> None:
    page = _signed_in(browser, live_stack, live_stack.token("uiorg4"))
    page.get_by_role("link", name="Template check").click()
    page.get_by_label(".env file").fill("A=1\nB={{ .Secrets.NOPE }}\n")
    page.get_by_role("button", name="Check").click()
    # 1-based character columns (Go's own message keeps its 0-based byte column).
    expect(page.locator("#template-result")).to_contain_text(
        'envFile:2:14: template execution error: template: envFile:2:13: executing "envFile"'
    )
    expect(page.locator("#template-result")).to_contain_text("Missing: NOPE")
    # A two-byte character before the reference: Go counts bytes, people count characters.
    page.get_by_label(".env file").fill("B=é{{ .Secrets.NOPE }}\n")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#template-result")).to_contain_text("envFile:1:15: template execution")
    # A position the engine cannot give is left out, never shown as "-" or 0.
    page.get_by_label(".env file").fill("")
    page.get_by_label("Helm values (YAML)").fill("a: {{ .Secrets.X }}\n")
    page.get_by_role("button", name="Check").click()
    result = page.locator("#template-result")
    # The structure finding knows its line, not its column: "file:line: message".
    expect(result).to_contain_text("valuesYaml:1: valuesYaml line 1: the reference to secret X")
    for item in result.locator("li").all_inner_texts():
        assert ":-" not in item
        assert not item.startswith(("valuesYaml:0", "envFile:0"))
    _shot(page, "template-check")
    page.close()


def test_audit_page_shows_value_uses_with_their_keys(
    browser: Browser, live_stack: LiveStack
) -> None:
    admin = live_stack.token("uiorg13", sub="auditor")
    _create(live_stack, admin, "AUDITED_KEY", "audited-value-77")
    page = _signed_in(browser, live_stack, admin)
    page.get_by_role("link", name="Template check").click()
    page.get_by_label(".env file").fill("A={{ .Secrets.AUDITED_KEY }}\n")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#template-result")).to_contain_text("References: AUDITED_KEY")
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Action").select_option("template.validate")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("#audit-rows tr", has_text="template.validate")
    # The value-use event reaches the chain through the audit intake: look until it is there.
    for _ in range(40):
        if row.count():
            break
        page.wait_for_timeout(250)
        page.get_by_role("button", name="Filter").click()
    expect(row.first).to_contain_text("AUDITED_KEY")
    expect(row.first).to_contain_text("auditor")
    expect(page.locator("#audit-rows tr", has_text="create")).to_have_count(0)
    _shot(page, "audit")
    assert "audited-value-77" not in page.content()
    page.close()
