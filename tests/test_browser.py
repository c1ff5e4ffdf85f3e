"""The explorer in a real browser: a notebook served by Voila on 127.0.0.1, driven by Debian's
chromium through playwright. Screenshots go to build/test-output/browser/."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

NOTEBOOK = '''
import ipywidgets as widgets
import diffputer
from IPython.display import display

data = diffputer.load_airquality()
explorer = diffputer.explore(data, refresh_seconds=0.3)

def run_fit(_):
    result = explorer.fit(m=3, width=32, max_steps=400, patience=400, max_iter=3, n_steps=4,
                          resample=1, corrector_steps=2, category_draws=4, n_samples=2,
                          proper_steps=20, progress=False, random_state=0)
    explorer.set_pooled(result.fit("Ozone ~ Wind + Temp"))

button = widgets.Button(description="Fit diffputer")
button.on_click(run_fit)
display(button, explorer.widget)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voila")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK)])
    nbformat.write(notebook, folder / "explorer.ipynb")
    port = free_port()
    log = open(folder / "voila.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", "explorer.ipynb", "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--VoilaConfiguration.show_tracebacks=True"],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MPLBACKEND": "Agg"})
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except urllib.error.HTTPError:  # any HTTP answer: the server is up
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"Voila did not start: {(folder / 'voila.log').read_text()[-2000:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def page(voila_url):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto(voila_url, timeout=120_000)
        expect(page.get_by_role("tab", name="Missingness")).to_be_visible(timeout=120_000)
        yield page
        browser.close()


def tab(page, name):
    page.get_by_role("tab", name=name).click()
    return page.locator(".widget-tab-contents, .jupyter-widget-tab-contents").first


def shot(page, name):
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def images(locator):
    """The images of the tab on show."""
    return locator.locator("img:visible")


def drawn(image):
    """Wait until the browser has decoded the image (a non-empty PNG)."""
    image.page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                 arg=image.element_handle(), timeout=30_000)


def test_the_four_tabs_render(page):
    names = [t.inner_text().strip() for t in page.get_by_role("tab").all()]
    assert names == ["Missingness", "Convergence", "Imputations", "Pooling"]
    missingness = tab(page, "Missingness")
    expect(missingness.get_by_text(re.compile(r"153 rows x 6 columns"))).to_be_visible()
    expect(images(missingness)).to_have_count(3)
    for image in images(missingness).all():
        drawn(image)
    shot(page, "1_missingness")
    expect(tab(page, "Convergence").get_by_text("No fit yet")).to_be_visible()
    expect(tab(page, "Imputations").get_by_text("No imputations yet")).to_be_visible()
    expect(tab(page, "Pooling").get_by_text("No pooled estimates")).to_be_visible()


def test_a_live_fit_updates_the_convergence_tab(page):
    page.get_by_role("button", name="Fit diffputer").click()
    convergence = page.locator(".widget-tab-contents, .jupyter-widget-tab-contents").first
    expect(page.get_by_text(re.compile(r"EM iteration \d+: training, epoch \d+"))).to_be_visible(
        timeout=60_000)
    drawn(images(convergence).first)
    shot(page, "2_convergence_live")
    first = images(convergence).first.get_attribute("src")
    expect(page.get_by_text("3 EM iterations done")).to_be_visible(timeout=180_000)
    assert images(convergence).first.get_attribute("src") != first
    drawn(images(convergence).first)
    shot(page, "3_convergence_done")


def test_switching_the_variable_changes_the_plot(page):
    imputations = tab(page, "Imputations")
    image = images(imputations).first
    expect(image).to_be_visible(timeout=120_000)
    before = image.get_attribute("src")
    imputations.locator("select:visible").select_option("Solar.R")
    expect(image).not_to_have_attribute("src", before, timeout=30_000)
    drawn(image)
    shot(page, "4_imputations")


def test_pooling_tab_shows_rubins_table(page):
    pooling = tab(page, "Pooling")
    heading = pooling.get_by_text("Rubin's rules over m = 3 imputations")
    expect(heading).to_be_visible(timeout=30_000)
    for column in ("riv", "lambda", "fmi"):
        expect(pooling.locator("th", has_text=column).first).to_be_visible()
    shot(page, "5_pooling")
