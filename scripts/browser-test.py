#!/usr/bin/env python3
"""Browser test of the demo web client, in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Starts a real `authctl up` (three services and the gateway on free loopback ports, fresh secrets and data in a temp
directory, a 5 s access-token TTL with no leeway, the production cookie attributes via --secure-cookies) and then, in
the browser, through http://127.0.0.1:<gateway>/app/:

  log in → add a note → wait past the TTL → add another (the silent refresh must happen, exactly once) → edit and
  delete a note → list sessions and end another one → reload (still logged in through the cookie) → two tabs refresh
  at the same moment (both stay logged in; the second is answered from the grace window) → log out (cookie cleared;
  the notes page refuses).

After every step `document.cookie` must not contain the refresh token, and the driver's cookie store must show it
HttpOnly, Secure, SameSite=Strict. Prints the time of each step; stops everything on exit, failure included; the whole
run is bounded (90 s). Run it through scripts/browser-test.sh, which provides the pinned Selenium.

    scripts/browser-test.sh [BIN_DIR] [--screenshot [PATH]]     (default .build/debug; --screenshot: docs/demo-notes.png)
"""

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from contextlib import contextmanager

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
from stacklib import AuthctlUp, Failure, call, check  # noqa: E402  (scripts/stacklib.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCESS_TTL = 5          # seconds; the identity service's minimum is anything above 0
DEADLINE = 90           # seconds for the whole run
PASSWORD = "correct horse battery staple"


class Stack(AuthctlUp):
    """`authctl up` in a temp directory, on free ports: a short access-token TTL with no leeway, Secure cookies."""

    def __init__(self, bin_dir):
        # The repository root as working directory: authctl finds web/ there.
        super().__init__(bin_dir, ["--secure-cookies", "--log-level", "warning"], cwd=ROOT, prefix="browser-test-",
                         environment=dict(IDENTITY_ACCESS_TTL=ACCESS_TTL, IDENTITY_LEEWAY=0, NOTES_LEEWAY=0,
                                          IDENTITY_SCRYPT_LOG_N=14))
        self.origin = self.urls["gateway"]

    def refreshes(self, outcome):
        """identity_refreshes_total{outcome=…} from the identity service's metrics."""
        answer = call(self.ports["identity"], "GET", "/metrics", timeout=5)
        check(answer.status == 200, f"identity /metrics answered {answer}")
        match = re.search(r'^identity_refreshes_total\{outcome="%s"\} (\S+)$' % outcome, answer.raw.decode(), re.M)
        return float(match.group(1)) if match else 0.0

    def post(self, path, body):
        return call(self.ports["gateway"], "POST", path, body=body).status


def make_driver(profile):
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        check(os.path.exists(path), f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900",
                     "--no-first-run", "--disable-extensions", "--lang=en-US", f"--user-data-dir={profile}",
                     # Both tabs of the two-tab check must run their timers on time, in the background too.
                     "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                     "--disable-backgrounding-occluded-windows"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(15)
    driver.set_script_timeout(15)
    return driver


class Browser:
    """The demo page in one or more tabs, with the checks every step repeats."""

    def __init__(self, driver, stack):
        self.driver = driver
        self.stack = stack

    def wait(self, condition, message, seconds=10):
        try:
            return WebDriverWait(self.driver, seconds, poll_frequency=0.05).until(lambda d: condition())
        except TimeoutException:
            error = self.js("return document.getElementById('error').textContent")
            raise Failure(f"{message} (page error: {error!r})") from None

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def state(self):
        return self.js("return document.body.dataset.state || ''")

    def wait_for_state(self, state):
        self.wait(lambda: self.state() == state, f"the page never reached state {state!r}")

    def status(self):
        return self.js("return document.getElementById('status').textContent")

    def error(self):
        return self.js("const e = document.getElementById('error'); return e.hidden ? '' : e.textContent")

    def note_titles(self):
        return self.js("return [...document.querySelectorAll('#notes .note-title')].map(e => e.textContent)")

    def fill(self, element_id, text):
        element = self.driver.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(text)

    def click(self, element_id):
        self.driver.find_element(By.ID, element_id).click()

    def refresh_cookie(self):
        return next((c for c in self.driver.get_cookies() if c["name"] == "refresh_token"), None)

    def check_cookie_is_out_of_reach(self):
        """The refresh token: in an HttpOnly, Secure, SameSite=Strict cookie, and nowhere script can read it."""
        cookie = self.refresh_cookie()
        check(cookie is not None and cookie["value"].startswith("rt_"), f"no refresh cookie: {cookie}")
        check(cookie["httpOnly"] and cookie["secure"] and cookie.get("sameSite") == "Strict" and cookie["path"] == "/",
              f"refresh cookie attributes: {cookie}")
        visible = self.js("return document.cookie")
        check(cookie["value"] not in visible and "refresh_token" not in visible, "document.cookie shows the refresh token")
        stored = self.js("return JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage)])")
        check(stored == "[[],[]]", f"the client stores something in web storage: {stored}")
        check(self.error() == "", f"the page shows an error: {self.error()!r}")

    def add_note(self, title, body):
        self.fill("new-title", title)
        self.fill("new-body", body)
        self.click("create-note")
        self.wait(lambda: self.status() == f"Added “{title}”.", f"note {title!r} was not added")


class Steps:
    """Times each step and prints it."""

    def __init__(self):
        self.started = time.monotonic()
        self.figures = []

    @contextmanager
    def step(self, name):
        began = time.monotonic()
        print(f"browser-test: {name}", flush=True)
        yield
        self.figures.append((name, time.monotonic() - began))

    def report(self):
        for name, seconds in self.figures:
            print(f"browser-test:   {seconds:6.2f} s  {name}")
        print(f"browser-test:   {time.monotonic() - self.started:6.2f} s  total")


def run(stack, driver, steps, screenshot):
    page = Browser(driver, stack)
    app = stack.origin + "/app/"
    user = "ada"

    with steps.step("open the demo logged out; a user signs up through the gateway (curl-style, a second session)"):
        driver.get(app)
        page.wait_for_state("logged-out")
        check(page.refresh_cookie() is None, "a cookie before logging in")
        check(stack.post("/signup", {"username": user, "password": PASSWORD}) == 201, "signup")

    with steps.step("log in"):
        page.fill("auth-username", user)
        page.fill("auth-password", PASSWORD)
        page.click("login")
        page.wait_for_state("logged-in")
        check(page.js("return document.getElementById('username').textContent") == user, "the page names the user")
        page.check_cookie_is_out_of_reach()

    with steps.step("add a note"):
        logged_in_at = time.monotonic()
        page.add_note("Call Bob", "About the lease.")
        page.check_cookie_is_out_of_reach()

    with steps.step(f"wait past the access-token TTL ({ACCESS_TTL} s), add another note: one silent refresh"):
        time.sleep(max(0.0, ACCESS_TTL + 1.2 - (time.monotonic() - logged_in_at)))
        rotated = stack.refreshes("rotated")
        cookie_before = page.refresh_cookie()["value"]
        page.add_note("Groceries", "Milk, eggs, coffee.")
        check(stack.refreshes("rotated") - rotated == 1, "exactly one refresh behind the expired token's 401")
        check(page.refresh_cookie()["value"] != cookie_before, "the refresh rotated the cookie")
        check(page.state() == "logged-in", "still logged in")
        page.check_cookie_is_out_of_reach()

    with steps.step("edit a note, add and delete one"):
        item = driver.find_element(By.CSS_SELECTOR, "#notes li:last-child")
        item.find_element(By.CSS_SELECTOR, ".edit").click()
        body = item.find_element(By.CSS_SELECTOR, ".note-edit textarea")
        body.clear()
        body.send_keys("About the lease, Tuesday.")
        item.find_element(By.CSS_SELECTOR, ".note-edit button[type=submit]").click()
        page.wait(lambda: page.status() == "Saved “Call Bob”.", "the edit was not saved")
        page.add_note("Scratch", "")
        driver.find_element(By.CSS_SELECTOR, "#notes li:first-child .delete").click()
        page.wait(lambda: page.status() == "Deleted “Scratch”.", "the note was not deleted")
        check(page.note_titles() == ["Groceries", "Call Bob"], f"notes: {page.note_titles()}")

    with steps.step("list sessions and end the other one"):
        page.click("reload-sessions")
        page.wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#sessions li")) == 2, "two sessions expected")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#sessions li.current")) == 1, "one session is this browser")
        driver.find_element(By.CSS_SELECTOR, "#sessions li:not(.current) .end").click()
        page.wait(lambda: page.status() == "Session ended.", "the other session did not end")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#sessions li")) == 1, "one session left")

    with steps.step("reload the page: still logged in through the cookie"):
        driver.refresh()
        page.wait_for_state("logged-in")
        page.wait(lambda: page.note_titles() == ["Groceries", "Call Bob"], "the notes after a reload")
        check("About the lease, Tuesday." in driver.page_source, "the edit survived")
        page.check_cookie_is_out_of_reach()
        if screenshot:
            os.makedirs(os.path.dirname(screenshot), exist_ok=True)
            check(driver.save_screenshot(screenshot), "screenshot")
            print(f"browser-test:   screenshot: {os.path.relpath(screenshot, ROOT)}")

    with steps.step(f"two tabs refresh at the same moment (after {ACCESS_TTL} s): both stay logged in"):
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")
        second = driver.current_window_handle
        driver.get(app)
        page.wait_for_state("logged-in")
        loaded_at = time.monotonic()
        # 300 ms of emulated latency in each tab: both requests leave with the same cookie before either answer can
        # replace it, whatever the scheduling, so the server sees a true concurrent refresh.
        for handle in (first, second):
            driver.switch_to.window(handle)
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                                   {"offline": False, "latency": 300, "downloadThroughput": -1, "uploadThroughput": -1})
            page.js("document.getElementById('status').textContent = ''")
        time.sleep(max(0.0, ACCESS_TTL + 1.2 - (time.monotonic() - loaded_at)))
        rotated, replayed = stack.refreshes("rotated"), stack.refreshes("replayed")
        fire_at = page.js("return Date.now()") + 400
        for handle in (first, second):
            driver.switch_to.window(handle)
            page.js("setTimeout(() => document.getElementById('reload-notes').click(), arguments[0] - Date.now())", fire_at)
        for handle in (first, second):
            driver.switch_to.window(handle)
            page.wait(lambda: page.status() == "Notes reloaded.", "a tab did not reload its notes")
            check(page.state() == "logged-in", "a tab was logged out")
            page.check_cookie_is_out_of_reach()
        check(stack.refreshes("rotated") - rotated == 1 and stack.refreshes("replayed") - replayed == 1,
              "one rotation and one grace-window replay expected, got %d and %d"
              % (stack.refreshes("rotated") - rotated, stack.refreshes("replayed") - replayed))
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        driver.refresh()
        page.wait_for_state("logged-in")  # the session survived: its next refresh works
        driver.close()
        driver.switch_to.window(first)
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    with steps.step("log out: cookie cleared, the notes page refuses"):
        page.click("logout")
        page.wait_for_state("logged-out")
        check(page.refresh_cookie() is None, f"the refresh cookie is still there: {page.refresh_cookie()}")
        driver.refresh()
        page.wait_for_state("logged-out")
        check(not driver.find_element(By.ID, "notes-view").is_displayed(), "the notes view is shown after logout")
        check(driver.find_element(By.ID, "auth-view").is_displayed(), "the login form is not shown after logout")
        answers = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            Promise.all([fetch('/notes'), fetch('/refresh', {method: 'POST'})])
              .then(rs => Promise.all(rs.map(r => r.json().then(b => r.status + ' ' + b.code)))).then(done, e => done(String(e)));
        """)
        check(answers == ["401 missing_token", "401 invalid_refresh_token"], f"after logout: {answers}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", nargs="?", default=os.path.join(ROOT, ".build", "debug"))
    parser.add_argument("--screenshot", nargs="?", const=os.path.join(ROOT, "docs", "demo-notes.png"),
                        help="save the notes page as a PNG (default docs/demo-notes.png)")
    arguments = parser.parse_args()
    bin_dir = os.path.abspath(arguments.bin_dir)
    if not os.access(os.path.join(bin_dir, "authctl"), os.X_OK):
        print(f"browser-test: no authctl in {bin_dir} (build first: swift build)", file=sys.stderr)
        return 2
    os.environ["SE_OFFLINE"] = "true"  # Selenium must never try to download a browser or driver

    def out_of_time(*_):
        raise Failure(f"the run took longer than {DEADLINE} s")
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(DEADLINE)

    steps = Steps()
    stack = driver = None
    profile = tempfile.mkdtemp(prefix="browser-test-profile-")
    try:
        with steps.step("start authctl up (short access-token TTL, Secure cookies) and Chromium"):
            stack = Stack(bin_dir)
            stack.start()
            driver = make_driver(profile)
            stack.wait_until_up(60, poll=0.1)
        run(stack, driver, steps, arguments.screenshot)
        signal.alarm(0)
        steps.report()
        print(f"browser-test: PASS ({len(steps.figures)} steps)")
        return 0
    except Exception as error:  # noqa: BLE001 — every failure is reported the same way, then cleaned up
        signal.alarm(0)
        print(f"browser-test: FAIL: {type(error).__name__}: {error}", file=sys.stderr)
        steps.report()
        if stack:
            print("--- last lines of authctl up ---", file=sys.stderr)
            print(stack.tail(), file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if driver:
            driver.quit()
        if stack:
            stack.stop()
            stack.remove()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
