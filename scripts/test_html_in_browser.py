#!/usr/bin/env python3
"""Opens `spandb trace --output html` pages in headless Chromium (Debian's chromium and
chromium-driver, driven with Selenium over WebDriver) and checks them as a person would use
them: one row per visible span, the critical-path toggle marks exactly the spans that
`spandb critical-path` names, a click shows the attribute table, the find box finds, and a
10,000-span page draws only the rows in view and scrolls to the last span. Screenshots go to
target/screenshots/ (look at them).

    python3 scripts/test_html_in_browser.py [--spandb target/release/spandb]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

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


def run(spandb, db, *args):
    return subprocess.run([spandb, "--db", db, *args], check=True, capture_output=True).stdout


def browser():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,900", "--hide-scrollbars"]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def settle(driver):
    """Waits until the page has drawn (rows are redrawn on the next animation frame)."""
    driver.execute_script(
        "return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))")


def spans_of(driver, selector="#spacer .row"):
    settle(driver)
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(r => r.dataset.span)", selector)


def click(driver, selector):
    settle(driver)
    driver.find_element(By.CSS_SELECTOR, selector).click()


def small_trace(driver, spandb, db, shots):
    found = json.loads(run(spandb, db, "search", "{ }", "--limit", "500", "--output", "json"))
    # The trace closest to 20 spans (the matched count of `{ }` is the span count).
    trace = min(found["traces"], key=lambda t: abs(t["spanSet"]["matched"] - 20))
    tid, n = trace["traceID"], trace["spanSet"]["matched"]
    html = os.path.join(shots, f"trace-{n}.html")
    with open(html, "wb") as f:
        f.write(run(spandb, db, "trace", tid, "--output", "html"))
    text = open(html, encoding="utf-8").read()
    check("<link" not in text and "src=\"http" not in text and "url(http" not in text,
          "the page loads nothing from outside")
    driver.get("file://" + html)
    rows = spans_of(driver)
    check(len(rows) == n and len(set(rows)) == n, f"{n}-span trace: one row per span ({len(rows)} rows)")
    check(driver.find_elements(By.CSS_SELECTOR, "#ticks .tick"), "a time ruler")
    check(not spans_of(driver, ".row.critical"), "no critical marks before the toggle")

    cp = json.loads(run(spandb, db, "critical-path", tid, "--output", "json"))
    expected = {s["span_id"] for s in cp["sections"]}
    driver.find_element(By.ID, "cp-toggle").click()
    marked = set(spans_of(driver, ".row.critical"))
    check(marked == expected, f"critical-path toggle marks exactly the {len(expected)} critical spans")
    settle(driver)
    driver.save_screenshot(os.path.join(shots, f"trace-{n}-critical.png"))
    driver.find_element(By.ID, "cp-toggle").click()
    check(not spans_of(driver, ".row.critical"), "toggling again clears the marks")

    # Collapse the root: one row left; expand again.
    click(driver, '#spacer .row[data-row="0"] .toggle')
    check(len(spans_of(driver)) == 1, "collapsing the root leaves one row")
    click(driver, '#spacer .row[data-row="0"] .toggle')
    check(len(spans_of(driver)) == n, "expanding shows every row again")

    # Click a span: its attributes, resource and events show.
    click(driver, '#spacer .row[data-row="1"] .name')
    detail = driver.find_element(By.ID, "detail")
    check(detail.is_displayed(), "a click opens the detail panel")
    keys = [td.text for td in detail.find_elements(By.CSS_SELECTOR, "table.attrs td:first-child")]
    check("service.name" in keys, f"the detail shows the resource table ({len(keys)} keys)")
    check(len(detail.find_elements(By.CSS_SELECTOR, "table.attrs")) >= 2,
          "the detail shows span attributes and resource as tables")
    driver.save_screenshot(os.path.join(shots, f"trace-{n}.png"))

    # Find: the root service finds at least one row and marks it.
    find = driver.find_element(By.ID, "find")
    find.send_keys(trace["rootServiceName"])
    check(spans_of(driver, ".row.match"), "the find box marks matching rows")
    find.send_keys(Keys.ENTER)
    check("of" in driver.find_element(By.ID, "find-count").text, "Enter steps through the matches")


def map_and_chart(driver, spandb, db, shots):
    html = os.path.join(shots, "service-map.html")
    with open(html, "wb") as f:
        f.write(run(spandb, db, "graph", "--output", "html"))
    driver.get("file://" + html)
    nodes = driver.execute_script("return document.querySelectorAll('svg g title').length")
    check(nodes > 10, f"the service map page draws its nodes ({nodes})")
    driver.save_screenshot(os.path.join(shots, "service-map.png"))

    html = os.path.join(shots, "chart.html")
    with open(html, "wb") as f:
        f.write(run(spandb, db, "metrics",
                    "{ kind = server } | quantile_over_time(duration, .99) by (resource.service.name)",
                    "--step", "5m", "--output", "html"))
    driver.get("file://" + html)
    legends = driver.execute_script("return document.querySelectorAll('g.legend').length")
    check(legends >= 20, f"the chart has a legend entry per series ({legends})")
    driver.find_element(By.CSS_SELECTOR, 'g.legend[data-series="0"]').click()
    hidden = driver.execute_script(
        "return document.querySelector('g.series[data-series=\"0\"]').style.display")
    check(hidden == "none", "a legend click hides its line")
    driver.save_screenshot(os.path.join(shots, "chart.png"))


def big_trace(driver, spandb, shots):
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = os.path.join(tmp, "big.jsonl")
        tid = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/big_trace.py"),
                              "--spans", "10000", "--out", jsonl],
                             check=True, capture_output=True, text=True).stdout.strip()
        db = os.path.join(tmp, "db")
        run(spandb, db, "import", jsonl)
        html = os.path.join(shots, "trace-10000.html")
        with open(html, "wb") as f:
            f.write(run(spandb, db, "trace", tid, "--output", "html"))
    size = os.path.getsize(html)
    check(size < 3 * 1024 * 1024, f"10,000-span page is {size / 1e6:.2f} MB (< 3 MB)")
    t = time.time()
    driver.get("file://" + html)
    load = time.time() - t
    check(driver.find_element(By.TAG_NAME, "body").get_attribute("data-spans") == "10000",
          f"the page holds 10,000 spans (loaded in {load:.2f} s)")
    rows = spans_of(driver)
    check(0 < len(rows) < 120, f"only the rows in view are drawn ({len(rows)} of 10,000)")
    driver.find_element(By.ID, "cp-toggle").click()
    settle(driver)
    driver.save_screenshot(os.path.join(shots, "trace-10000.png"))
    t = time.time()
    for k in range(1, 21):
        driver.execute_script("document.getElementById('scroller').scrollTop = arguments[0];", k * 11000)
        driver.execute_script("return new Promise(r => requestAnimationFrame(() => r()))")
    per_frame = (time.time() - t) / 20
    check(per_frame < 0.1, f"scrolling redraws in {per_frame * 1000:.0f} ms a step")
    driver.execute_script("const s = document.getElementById('scroller'); s.scrollTop = s.scrollHeight;")
    settle(driver)
    last = driver.execute_script(
        "const r = document.querySelectorAll('#spacer .row'); return r[r.length - 1].dataset.row")
    check(last == "9999", f"scrolled to the end, the last row is drawn (row {last})")
    driver.save_screenshot(os.path.join(shots, "trace-10000-end.png"))
    # Collapse all, then find a deep span: it is revealed and selected.
    click(driver, "#collapse-all")
    collapsed = len(spans_of(driver))
    find = driver.find_element(By.ID, "find")
    find.send_keys("deadline")
    find.send_keys(Keys.ENTER)
    settle(driver)
    check(collapsed < 10000 and driver.find_element(By.ID, "detail").is_displayed(),
          f"find reveals a match inside collapsed spans ({collapsed} rows when collapsed)")
    driver.save_screenshot(os.path.join(shots, "trace-10000-find.png"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spandb", default=os.path.join(ROOT, "target/release/spandb"))
    args = ap.parse_args()
    shots = os.path.join(ROOT, "target/screenshots")
    os.makedirs(shots, exist_ok=True)
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "db")
            run(args.spandb, db, "import", os.path.join(ROOT, "examples/sample.jsonl"))
            small_trace(driver, args.spandb, db, shots)
            map_and_chart(driver, args.spandb, db, shots)
        big_trace(driver, args.spandb, shots)
    finally:
        driver.quit()
    print(f"screenshots in {shots}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
