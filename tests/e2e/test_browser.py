"""The console and browser calls in real headless Chromium (Debian's), driven by Playwright.

One ``cropedly serve`` on a loopback port, and customer pages served from other
loopback ports that call the API with a token: the browser lets a page read the
answer only when an Enterprise account registered the page's origin. No browser
is downloaded (``playwright install`` cannot work here): Playwright launches
/usr/bin/chromium, which the tests session and .ci/run install when missing.
Set CROPEDLY_SCREENSHOT_DIR (e.g. docs/img) to keep the console's screenshots.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from browsers import FLAGS, require_chromium
from imaging import png_bytes
from servers import create_user, cropedly, running_server, server_env

pytestmark = pytest.mark.slow

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "a long browser passphrase 5"
ENTERPRISE, PRO = "ent@example.com", "pro@example.com"
TIMEOUT_MS = 30_000

# The customer's page: calls the API from its own origin and says what the browser allowed.
CUSTOMER_PAGE = b"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>customer</title></head><body><p id="result">waiting</p><script>
var p = new URLSearchParams(location.hash.slice(1));
var result = document.getElementById("result");
fetch(p.get("api") + "/account/v1/usage", {headers: {Authorization: "Bearer " + p.get("token")}})
  .then(function (r) { return r.json().then(function (body) {
    result.textContent = "read " + r.status + " " + body.plan + " " + r.headers.get("RateLimit");
  }); })
  .catch(function (e) { result.textContent = "blocked " + e.name; });
</script></body></html>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(CUSTOMER_PAGE)))
        self.end_headers()
        self.wfile.write(CUSTOMER_PAGE)

    def log_message(self, *_: Any) -> None:  # keep test output quiet
        return


class CustomerSite:
    """A second loopback HTTP server: the customer's web page, on its own origin."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Deployment:
    def __init__(self, base: str, env: dict[str, str], sites: dict[str, CustomerSite]) -> None:
        self.base, self.env, self.sites = base, env, sites

    def token(self, email: str) -> str:
        form = {"email": (None, email), "password": (None, PASSWORD)}
        response = httpx.post(f"{self.base}/auth/v1/login", files=form, timeout=30)
        assert 200 == response.status_code, response.text
        return str(response.json()["token"])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The API, an Enterprise and a Pro account, and three customer sites.

    ``registered``: registered by the Enterprise account; ``pro``: registered only by
    the Pro account (through ``users set-origins``); ``stranger``: by nobody.
    """
    tmp_path = tmp_path_factory.mktemp("browser")
    env = server_env(tmp_path)
    sites = {name: CustomerSite() for name in ("registered", "pro", "stranger")}
    try:
        create_user(env, ENTERPRISE, PASSWORD, "Enterprise Customer", "enterprise")
        create_user(env, PRO, PASSWORD, "Pro Customer", "pro")
        added = cropedly(
            env, "domains", "add", "--email", ENTERPRISE, "--origin", sites["registered"].origin
        )
        assert 0 == added.returncode, added.stderr
        pro = cropedly(env, "users", "set-origins", "--email", PRO, "--origin", sites["pro"].origin)
        assert 0 == pro.returncode, pro.stderr
        with running_server(env, tmp_path) as server:
            yield Deployment(server.base, env, sites)
    finally:
        for site in sites.values():
            site.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    keep = os.environ.get("CROPEDLY_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / name)
    return shot


class TestCustomerPages:
    def test_a_registered_origin_reads_the_answer(self, deployment: Deployment, page: Page) -> None:
        """Preflight and call pass; the page reads the body and the exposed RateLimit header."""
        site = deployment.sites["registered"]
        token = deployment.token(ENTERPRISE)
        page.goto(f"{site.origin}/#api={deployment.base}&token={token}")
        expect(page.locator("#result")).to_contain_text("read 200 enterprise")
        assert '"minute";r=' in page.inner_text("#result")

    def test_an_unregistered_origin_is_blocked_by_the_browser(
        self, deployment: Deployment, page: Page
    ) -> None:
        site = deployment.sites["stranger"]
        token = deployment.token(ENTERPRISE)
        page.goto(f"{site.origin}/#api={deployment.base}&token={token}")
        expect(page.locator("#result")).to_have_text("blocked TypeError")

    def test_a_pro_accounts_origin_is_blocked_by_the_browser(
        self, deployment: Deployment, page: Page
    ) -> None:
        """Browser calls need Enterprise: a Pro account's registered origin gets no CORS grant."""
        site = deployment.sites["pro"]
        token = deployment.token(PRO)
        page.goto(f"{site.origin}/#api={deployment.base}&token={token}")
        expect(page.locator("#result")).to_have_text("blocked TypeError")


def drop_files(page: Page, selector: str, files: dict[str, bytes]) -> None:
    """Drop files on an element the way a person drags them from the desktop."""
    encoded = {name: base64.b64encode(data).decode() for name, data in files.items()}
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(files)) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const type = name.endsWith(".png") ? "image/png" : "image/jpeg";
                transfer.items.add(new File([bytes], name, {type: type}));
            }
            return transfer;
        }""",
        encoded,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


class TestConsole:
    def test_the_whole_flow(self, deployment: Deployment, page: Page, tmp_path: Path) -> None:
        """Sign in, manage the catalog and domains, enhance dropped images, see usage."""
        page.goto(f"{deployment.base}/console")
        expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
        expect(page.locator("#app")).to_be_hidden()
        screenshot(page, tmp_path, "console-sign-in.png")
        page.get_by_label("E-mail").fill(ENTERPRISE)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#status")).to_contain_text(f"Signed in as {ENTERPRISE}")
        assert page.evaluate("sessionStorage.getItem('cropedly.token')")
        assert "token" not in page.url
        expect(page.locator("#login-section")).to_be_hidden()

        # The catalog: upload, thumbnail, and the reference option it adds.
        style = (DOCS_IMG / "reference-style.jpg").read_bytes()
        page.get_by_label("Reference images to upload").set_input_files(
            [{"name": "sky.png", "mimeType": "image/jpeg", "buffer": style}]
        )
        page.get_by_role("button", name="Upload", exact=True).click()
        thumbnail = page.locator("#catalog-list img[alt='sky.png']")
        expect(thumbnail).to_be_visible()
        # The thumbnail loads through its signed link (lazily): wait for its pixels.
        page.wait_for_function(
            "() => { const i = document.querySelector(\"#catalog-list img[alt='sky.png']\");"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        expect(page.locator("#reference option", has_text="sky.png")).to_have_count(1)

        # Domains: add one (typed in any form, stored normalised), then remove it.
        page.get_by_label("Origin (https://host[:port])").fill("HTTPS://Shop.Example:443")
        page.get_by_role("button", name="Add domain", exact=True).click()
        expect(page.locator("#domain-list")).to_contain_text("https://shop.example")
        expect(page.locator("#domain-list")).to_contain_text(deployment.sites["registered"].origin)

        # Enhance two dropped images with options; compare with the slider.
        photo = DOCS_IMG / "reference-before.jpg"  # a real photo makes a telling screenshot
        drop_files(
            page, "#drop-zone", {"photo.jpg": photo.read_bytes(), "b.png": png_bytes(24, 18)}
        )
        expect(page.locator("#chosen")).to_contain_text("2 image(s) chosen")
        page.get_by_label("Upscale", exact=True).select_option("2")
        page.get_by_label("Format").select_option("png")
        page.get_by_label("Restore (noise, compression blocks)").select_option("none")
        page.get_by_label("Reference image (Enterprise: match its colours)").select_option(
            label="sky.png"
        )
        page.get_by_role("button", name="Enhance", exact=True).click()
        results = page.locator("#results figure")
        expect(results).to_have_count(2)
        after = page.locator("#results img.after").first
        expect(after).to_be_visible()
        page.wait_for_function(
            "() => [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        with Image.open(photo) as opened:
            width = opened.width
        assert page.evaluate("(img) => img.naturalWidth", after.element_handle()) == 2 * width
        slider = page.get_by_label("Compare").first
        slider.focus()
        page.keyboard.press("ArrowRight")
        assert "51" == slider.input_value()
        assert "51%" in (after.evaluate("(img) => img.style.clipPath") or "")
        expect(page.locator("#usage-table")).to_contain_text("Images enhanced")
        expect(page.locator("#usage-table tbody tr").first).to_contain_text("2")
        screenshot(page, tmp_path, "console-enhanced.png")

        page.get_by_role("button", name="Remove https://shop.example").click()
        expect(page.locator("#domain-list")).not_to_contain_text("https://shop.example")
        page.get_by_role("button", name="Delete sky.png").click()
        expect(page.locator("#catalog-list img")).to_have_count(0)

    def test_errors_are_shown_not_swallowed(self, deployment: Deployment, page: Page) -> None:
        page.goto(f"{deployment.base}/console")
        page.get_by_label("E-mail").fill(ENTERPRISE)
        page.get_by_label("Password").fill("not the password 1")
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#login-error")).to_contain_text("incorrect")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#status")).to_contain_text("Signed in")
        page.get_by_label("Origin (https://host[:port])").fill("https://*.example")
        page.get_by_role("button", name="Add domain", exact=True).click()
        expect(page.locator("#domains-error")).to_contain_text("wildcard")
        # Upscale and a target size are alternatives: the server's 422 detail is shown.
        drop_files(page, "#drop-zone", {"a.png": png_bytes(24, 18)})
        page.get_by_label("Upscale", exact=True).select_option("2")
        page.get_by_label("Width in pixels (optional; instead of upscale)").fill("100")
        page.get_by_role("button", name="Enhance", exact=True).click()
        expect(page.locator("#enhance-error")).to_contain_text("alternatives")

    def test_resize_to_a_width(self, deployment: Deployment, page: Page) -> None:
        """A width alone (upscale left at 1) gives an image of that width."""
        page.goto(f"{deployment.base}/console#token={deployment.token(PRO)}")
        expect(page.locator("#app")).to_be_visible()
        drop_files(page, "#drop-zone", {"a.png": png_bytes(80, 60)})
        page.get_by_label("Width in pixels (optional; instead of upscale)").fill("40")
        page.get_by_role("button", name="Enhance", exact=True).click()
        expect(page.locator("#results figcaption")).to_contain_text(
            "40\u00d730"
        )  # 40 x 30 (the multiplication sign)

    def test_a_pro_account_sees_what_its_plan_allows(
        self, deployment: Deployment, page: Page
    ) -> None:
        page.goto(f"{deployment.base}/console")
        page.get_by_label("E-mail").fill(PRO)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#status")).to_contain_text("(pro plan)")
        expect(page.locator("#domains-error")).to_contain_text("Enterprise plan")
        expect(page.locator("#usage-table")).to_contain_text("Requests per minute")

    def test_the_google_hand_off_token_leaves_the_address_bar(
        self, deployment: Deployment, page: Page
    ) -> None:
        token = deployment.token(PRO)
        page.goto(f"{deployment.base}/console#token={token}")
        expect(page.locator("#status")).to_contain_text(PRO)
        assert page.url.endswith("/console")


# The lowest contrast between a visible text and the background it sits on (WCAG 2 formula).
CONTRAST_JS = """() => {
    const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => {
        v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (e) => {
        for (; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c;
        }
        return [255, 255, 255];
    };
    let lowest = {ratio: 99, text: ""};
    for (const e of document.querySelectorAll("body *")) {
        const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own || !e.checkVisibility()) continue;
        const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < lowest.ratio) lowest = {ratio: ratio, text: e.textContent.trim().slice(0, 40)};
    }
    return lowest;
}"""


class TestAccessibility:
    def test_every_control_has_a_label(self, deployment: Deployment, page: Page) -> None:
        page.goto(f"{deployment.base}/console")
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter((e) => !e.labels || e.labels.length === 0)
                .map((e) => e.id || e.name)"""
        )
        assert [] == unlabelled

    def test_text_contrast_is_at_least_7_to_1(self, deployment: Deployment, page: Page) -> None:
        """WCAG AAA for every visible text of the signed-in console, computed from its styles."""
        page.goto(f"{deployment.base}/console#token={deployment.token(ENTERPRISE)}")
        expect(page.locator("#app")).to_be_visible()
        lowest = page.evaluate(CONTRAST_JS)
        assert lowest["text"], "no text was checked"
        assert lowest["ratio"] >= 7, lowest

    def test_sign_in_by_keyboard_alone(self, deployment: Deployment, page: Page) -> None:
        """Tab from the top of the page to the form, type, and press Enter."""
        page.goto(f"{deployment.base}/console")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "login-email":
                break
        assert "login-email" == page.evaluate("document.activeElement.id")
        page.keyboard.type(PRO)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_contain_text(f"Signed in as {PRO}")
