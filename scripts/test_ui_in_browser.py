#!/usr/bin/env python3
"""Drives `spandb serve`'s web UI in headless Chromium (Debian's chromium and
chromium-driver, through Selenium) as a person would: a database is generated with
benches/gen_spans.py (20,000 spans, one error incident in `payment`), the server starts on
free loopback ports, and the browser types a TraceQL query (using the completion), sees the
results and the scatter, opens a trace (the waterfall draws its rows), and visits the service
map, the RED dashboard, the errors and the anomalies pages. Every page must load without a
JavaScript error or a Content-Security-Policy violation in the console, and nothing may be
requested from another host. A second server with a bearer token checks that the UI asks for
the token once and then works. Screenshots go to target/screenshots/ui-*.png.

Firefox too with `--browser firefox` (Debian's firefox-esr and geckodriver from
`cargo install geckodriver`): WebDriver gives no console log there, so the page's errors,
CSP violations and requests are collected in the page (listeners installed after each load,
the Resource Timing entries).

    python3 scripts/test_ui_in_browser.py [--spandb target/release/spandb] [--browser chromium|firefox]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


BROWSER = "chromium"

# Firefox's WebDriver has no console log: errors and CSP violations are caught in the page.
WATCH = """
if (!window.__seen) {
  window.__seen = [];
  addEventListener('error', e => __seen.push('error: ' + e.message));
  addEventListener('unhandledrejection', e => __seen.push('rejection: ' + e.reason));
  addEventListener('securitypolicyviolation', e => __seen.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
}
"""


def load(driver, url):
    driver.get(url)
    if BROWSER == "firefox":
        driver.execute_script(WATCH)


def browser():
    if BROWSER == "firefox":
        from selenium.webdriver.firefox.options import Options as FirefoxOptions
        from selenium.webdriver.firefox.service import Service as FirefoxService
        import shutil
        opts = FirefoxOptions()
        opts.binary_location = "/usr/bin/firefox-esr"
        opts.add_argument("-headless")
        gecko = shutil.which("geckodriver") or os.path.expanduser("~/.cargo/bin/geckodriver")
        d = webdriver.Firefox(service=FirefoxService(gecko), options=opts)
        d.set_window_size(1440, 1000)
        return d
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1440,1000", "--hide-scrollbars"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class Serve:
    """`spandb serve` on free loopback ports; the query address read from its stderr."""

    def __init__(self, spandb, db, token_file=None):
        args = [spandb, "--db", db, "serve", "--listen", "127.0.0.1:0",
                "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "127.0.0.1:0"]
        if token_file:
            args += ["--auth-token-file", token_file]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        self.url = None
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            # The startup log line: `spandb serving query_addr=127.0.0.1:PORT ...`.
            m = re.search(r"query_addr=\"?([\d.:]+)", line)
            if m:
                self.url = "http://" + m.group(1)
                break
        if not self.url:
            self.proc.kill()
            sys.exit("spandb serve did not start")
        # Keep reading its log (one line per request) so a full pipe never stalls it.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait(driver, cond, what, timeout=20):
    try:
        WebDriverWait(driver, timeout).until(lambda d: cond(d))
        return True
    except Exception:
        print(f"     (timed out waiting for {what})")
        return False


def console_errors(driver):
    """Console messages at error level (JS exceptions, CSP violations, failed loads)."""
    if BROWSER == "firefox":
        seen = driver.execute_script("const s = window.__seen || []; window.__seen = []; return s;")
        return list(seen)
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def remote_requests(driver, base):
    """URLs the page asked for that are not on `base` (from Chromium's network log)."""
    if BROWSER == "firefox":
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        return [u for u in urls if not u.startswith(base) and not u.startswith(("data:", "blob:"))]
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            url = msg["params"]["request"]["url"]
            if not (url.startswith(base) or url.startswith("data:") or url.startswith("blob:")
                    or url.startswith("about:")):
                out.append(url)
    return out


def shot(driver, shots, name):
    prefix = "ui-firefox-" if BROWSER == "firefox" else "ui-"
    path = os.path.join(shots, f"{prefix}{name}.png")
    driver.save_screenshot(path)
    return path


def ui_without_token(driver, base, shots):
    load(driver, base + "/")
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tbody tr"),
               "first results"), "the search page lists traces on load")
    check("spans" in driver.find_element(By.ID, "data-info").text,
          "the header tells how much data there is")

    # Type a query with the completion: names after `{`, values after `=`.
    q = driver.find_element(By.ID, "q")
    q.clear()
    q.send_keys("{ resource.service.n")
    check(wait(driver, lambda d: any("resource.service.name" in li.text for li in
                                     d.find_elements(By.CSS_SELECTOR, "#complete li")),
               "name completion"), "the query box completes attribute names")
    q.send_keys(Keys.TAB)
    check(q.get_attribute("value") == "{ resource.service.name",
          "Tab accepts the completion")
    q.send_keys(' = "pay')
    # Wait for the list of the whole prefix (answers for shorter ones may show first).
    check(wait(driver, lambda d: (lambda lis: lis and all(li.text.startswith("payment") for li in lis))(
        d.find_elements(By.CSS_SELECTOR, "#complete li")),
               "value completion"), "the query box completes values (services)")
    shot(driver, shots, "completion")
    q.send_keys(Keys.ENTER)
    check(q.get_attribute("value") == '{ resource.service.name = "payment"',
          "Enter puts the quoted value in")
    q.send_keys(" && status = error }")
    driver.find_element(By.ID, "search-button").click()
    check(wait(driver, lambda d: "traces" in d.find_element(By.ID, "search-status").text
               and d.find_elements(By.CSS_SELECTOR, "#results tbody tr")
               and d.find_elements(By.CSS_SELECTOR, "#scatter circle"), "search"),
          "a query shows results and the scatter")
    rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    dots = driver.find_elements(By.CSS_SELECTOR, "#scatter circle")
    check(len(rows) == len(dots) and len(rows) > 5,
          f"one row and one dot per trace ({len(rows)} rows, {len(dots)} dots)")
    shot(driver, shots, "search")

    # A bad query says what is wrong.
    q.clear()
    q.send_keys("{ duration > }")
    driver.find_element(By.ID, "search-button").click()
    check(wait(driver, lambda d: "error" in d.find_element(By.ID, "search-status").get_attribute("class"),
               "error status"), "a bad query shows the parser's message")
    status = driver.find_element(By.ID, "search-status").text
    check("expected" in status or "line" in status or "column" in status,
          f"the message says what is wrong ({status!r})")
    # The 400 answer is logged by the browser as a failed load: expected, nothing else.
    logged = [m for m in console_errors(driver) if "status of 400" not in m]
    check(not logged, "the bad query logs nothing but its 400" + (": " + "; ".join(logged) if logged else ""))
    q.clear()
    q.send_keys('{ resource.service.name = "payment" && status = error }')
    q.send_keys(Keys.ESCAPE)
    driver.find_element(By.ID, "search-button").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tbody tr"), "results again")

    # Open a trace: the waterfall page in the frame draws its rows.
    link = driver.find_element(By.CSS_SELECTOR, "#results tbody tr a")
    trace_id = link.text
    link.click()
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#explain li"), "explain"),
          "the trace view explains the trace in sentences")
    driver.switch_to.frame(driver.find_element(By.ID, "trace-frame"))
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#spacer .row"), "waterfall rows"),
          "the trace's waterfall draws its rows")
    check(trace_id in driver.find_element(By.TAG_NAME, "h1").text, "the waterfall is of that trace")
    driver.find_element(By.CSS_SELECTOR, "#spacer .row .name").click()
    check(wait(driver, lambda d: d.find_element(By.ID, "detail").is_displayed(), "detail"),
          "a click on a span opens its details")
    driver.switch_to.default_content()
    shot(driver, shots, "trace")

    # Service map: the renderer's SVG and the edge table.
    driver.find_element(By.CSS_SELECTOR, '#nav a[data-page="map"]').click()
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#map-svg svg")
               and d.find_elements(By.CSS_SELECTOR, "#edges tbody tr"), "map"),
          "the service map draws the graph and lists its edges")
    edges = driver.find_elements(By.CSS_SELECTOR, "#edges tbody tr")
    check(len(edges) > 20, f"the map has the generated call graph ({len(edges)} edges)")
    shot(driver, shots, "map")

    # RED: the table and three charts; picking a service redraws them.
    driver.find_element(By.CSS_SELECTOR, '#nav a[data-page="red"]').click()
    check(wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#red-table tbody tr")) > 10
               and len(d.find_elements(By.CSS_SELECTOR, "#red-charts svg")) == 3, "RED"),
          "the RED page lists services and draws rate, errors and latency charts")
    driver.find_element(By.CSS_SELECTOR, '#red-table tbody tr[data-service="payment"] td').click()
    check(wait(driver, lambda d: "payment" in d.find_element(By.ID, "chart-rate").text, "payment charts"),
          "clicking a service draws its charts")
    shot(driver, shots, "red")

    # Errors: groups, the incident's exception among them.
    driver.find_element(By.CSS_SELECTOR, '#nav a[data-page="errors"]').click()
    check(wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#errors-table tbody tr")) > 3, "errors"),
          "the errors page lists error groups")
    text = driver.find_element(By.ID, "errors-table").text
    check("payment" in text, "the payment incident's errors are among the groups")
    shot(driver, shots, "errors")

    # Anomalies: the generated incident, localized to payment.
    driver.find_element(By.CSS_SELECTOR, '#nav a[data-page="anomalies"]').click()
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#incidents .incident"), "incidents"),
          "the anomalies page shows an incident")
    first = driver.find_element(By.CSS_SELECTOR, "#incidents .incident h3").text
    check("payment" in first, f"the incident is localized to payment ({first!r})")
    shot(driver, shots, "anomalies")

    errors = console_errors(driver)
    check(not errors, "no console errors (JS, CSP) on any page" + (": " + "; ".join(errors) if errors else ""))
    remote = remote_requests(driver, base)
    check(not remote, "no request left the machine" + (": " + ", ".join(remote[:5]) if remote else ""))


def ui_with_token(driver, base, shots):
    load(driver, base + "/")
    driver.execute_script("localStorage.removeItem('spandb.token')")
    driver.get("about:blank")
    load(driver, base + "/#/search")
    check(wait(driver, lambda d: d.find_element(By.ID, "token-box").is_displayed(), "token box"),
          "with a token required, the UI asks for it")
    console_errors(driver)  # the expected 401s
    driver.find_element(By.ID, "token-input").send_keys("ui-test-token")
    driver.find_element(By.CSS_SELECTOR, "#token-box button[type=submit]").click()
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tbody tr"), "results with token"),
          "once the token is entered, search works")
    driver.find_element(By.CSS_SELECTOR, "#results tbody tr a").click()
    driver.switch_to.frame(driver.find_element(By.ID, "trace-frame"))
    check(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#spacer .row"), "waterfall with token"),
          "the trace page uses the stored token too")
    driver.switch_to.default_content()
    errors = console_errors(driver)
    check(not errors, "no console errors once the token is set" + (": " + "; ".join(errors) if errors else ""))
    shot(driver, shots, "token")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spandb", default=os.path.join(ROOT, "target/release/spandb"))
    ap.add_argument("--browser", choices=["chromium", "firefox"], default="chromium")
    args = ap.parse_args()
    global BROWSER
    BROWSER = args.browser
    print(f"browser: {BROWSER}")
    shots = os.path.join(ROOT, "target/screenshots")
    os.makedirs(shots, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = os.path.join(tmp, "spans.jsonl")
        subprocess.run([sys.executable, os.path.join(ROOT, "benches/gen_spans.py"), "--spans", "20000",
                        "--seed", "3", "--window-s", "3600", "--out", jsonl,
                        "--incident", "payment:errors:2400:600:0.5"], check=True, capture_output=True)
        db = os.path.join(tmp, "db")
        subprocess.run([args.spandb, "--db", db, "import", jsonl], check=True, capture_output=True)
        driver = browser()
        try:
            server = Serve(args.spandb, db)
            try:
                with urllib.request.urlopen(server.url + "/") as r:
                    csp = r.headers.get("Content-Security-Policy", "")
                check("default-src 'none'" in csp and "connect-src 'self'" in csp
                      and "script-src 'self'" in csp, "the UI is served with a same-origin-only CSP")
                ui_without_token(driver, server.url, shots)
            finally:
                server.stop()
            token_file = os.path.join(tmp, "token")
            with open(token_file, "w") as f:
                f.write("ui-test-token\n")
            server = Serve(args.spandb, db, token_file)
            try:
                ui_with_token(driver, server.url, shots)
            finally:
                server.stop()
        finally:
            driver.quit()
    print(f"\n{passed} passed, {failed} failed; screenshots in {shots}/ui-*.png")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
