"""Screenshots of the dashboard's views, taken in a headless Chromium driven by Playwright.

Usage (from the repository root, after ``make demo``)::

    .venv/bin/python docs/screenshots.py [--root out/demo] [--run RUN_ID] [--out docs/img]

Starts ``panel serve dashboard --args --root ROOT`` on a free local port, chooses the run
``RUN_ID`` in the run chooser (default: the one the dashboard selects, the newest), moves the
slice player to the slice with the most cells with new landslides, clicks the cell with the
largest observed density of that slice on the observed-density map (so that its story is
informative), and writes ``OUT/dashboard_<view>.png`` at 1400 × 900 for the views runs,
inventory, predictors, train, maps, evaluation, cell, scenarios and about, and of two parts further down the Maps
tab: ``time`` (the hazard over time) and ``compare`` (two periods compared).

Needs the ``playwright`` Python package and a Chromium; Playwright's own browser download is
not needed: ``--chromium`` (default ``/usr/bin/chromium``) names the executable.

:class:`Dashboard` and :func:`serve` are shared with ``tests/test_browser.py``: every wait is on
something the page shows (a text, a plot's title, a rendered plot), not on a fixed delay.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPOSITORY = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
VIEWPORT = {"width": 1400, "height": 900}
#: File name part and tab title of each view.
VIEWS = {"runs": "Runs", "inventory": "Inventory", "predictors": "Predictors", "train": "Train", "maps": "Maps",
         "evaluation": "Evaluation", "cell": "A cell's story", "scenarios": "Scenarios", "about": "About"}
#: Views pictured here but not (yet) in the browser tests' every-view loops over :data:`VIEWS`.
PICTURED_ONLY: dict[str, str] = {}
#: Pictures of a part further down a tab: file name part → (tab title, heading scrolled to the window's top).
PARTS = {"time": ("Maps", "Hazard over time: "), "compare": ("Maps", "Two periods compared")}
#: Addresses outside this machine the page may ask for: none (the dashboard serves its fonts, scripts and
#: stylesheets itself, ``dashboard.app.local_resources``; map tiles only with the web basemap switched on).
EXTERNAL_ALLOWED: tuple[re.Pattern[str], ...] = ()
STARTUP_S = 120  # the server imports panel, holoviews, torch before listening (slow on a busy machine)
TIMEOUT_S = 120  # a view's first render builds its plots on the server

#: Page-side helper: the shown Bokeh figure whose title starts with ``prefix`` (null if none), with its
#: element's page rectangle, its plotting frame (relative to the element), ranges, and whether it is drawn.
FIGURE_JS = """(prefix) => {
  if (!window.Bokeh || !Bokeh.index) return null;
  for (const view of Bokeh.index.all_views()) {
    const title = view.frame && view.model.title ? (view.model.title.text || "") : null;
    if (title === null || !title.startsWith(prefix)) continue;
    const rect = view.el.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) continue;
    const bbox = view.frame.bbox;
    return {title, rect: [rect.x, rect.y, rect.width, rect.height], frame: [bbox.x, bbox.y, bbox.width, bbox.height],
            x_range: [view.frame.x_range.start, view.frame.x_range.end],
            y_range: [view.frame.y_range.start, view.frame.y_range.end], finished: view.has_finished()};
  }
  return null;
}"""
#: Page-side helper: the columns of the data of every glyph of the shown figure titled ``prefix...``.
GLYPH_DATA_JS = """(prefix) => {
  for (const view of Bokeh.index.all_views()) {
    const title = view.frame && view.model.title ? (view.model.title.text || "") : null;
    if (title === null || !title.startsWith(prefix) || view.el.getBoundingClientRect().width === 0) continue;
    const out = [];
    for (const renderer of view.model.renderers) {
      if (!renderer.data_source || !renderer.glyph) continue;
      const columns = {};
      for (const [name, values] of Object.entries(renderer.data_source.data)) {
        if (values && typeof values.length === "number" && typeof values !== "string")
          columns[name] = Array.from(values, (v) => (typeof v === "number" || typeof v === "string") ? v : null);
      }
      out.push({glyph: renderer.glyph.type, columns});
    }
    return out;
  }
  return null;
}"""
#: Page-side helper: titles of the shown figures not drawn yet.
UNDRAWN_JS = """() => [...Bokeh.index.all_views()].filter((view) => view.frame && view.el
  && view.el.getBoundingClientRect().width > 0 && !view.has_finished())
  .map((view) => (view.model.title && view.model.title.text) || view.model.type)"""
BUSY_JS = "() => document.querySelector('#busy-container .spin') === null"
TWO_FRAMES_JS = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def serve(root: Path, log_path: Path, port: int | None = None, env: dict[str, str] | None = None,
          startup_s: float = STARTUP_S, launcher_args: Sequence[str] | None = None) -> Iterator[str]:
    """``panel serve dashboard --args --root ROOT`` on 127.0.0.1 while in the block; yields the app's URL.

    With ``launcher_args``, ``python -m dashboard --root ROOT --port PORT *launcher_args`` instead.
    The server's output goes to ``log_path``. Raises ``RuntimeError`` (with the log) if it exits
    or does not listen within ``startup_s``.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "panel", "serve", "dashboard", "--port", str(port), "--address", "127.0.0.1",
               "--args", "--root", str(root)]
    if launcher_args is not None:
        command = [sys.executable, "-m", "dashboard", "--root", str(root), "--port", str(port), *launcher_args]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + startup_s
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"panel serve did not start (exit {process.poll()}):\n"
                                   + log_path.read_text(encoding="utf-8"))
            time.sleep(0.5)
        yield f"http://localhost:{port}/dashboard"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


class Dashboard:
    """The dashboard in a Playwright page: tabs, plots, the slice player, clicks on maps, screenshots.

    Records the page's JavaScript errors (``errors``: uncaught exceptions and every console error,
    failed resource loads included), its console (``console``) and the addresses outside this machine it
    asked for (``external_urls``; :meth:`unexpected_urls`: those not in :data:`EXTERNAL_ALLOWED`).
    """

    def __init__(self, page: Any, timeout_s: float = TIMEOUT_S) -> None:
        self.page = page
        self.timeout_ms = timeout_s * 1000
        self.errors: list[str] = []
        self.console: list[str] = []
        self.external_urls: set[str] = set()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("request", self._on_request)

    def _on_console(self, message: Any) -> None:
        line = f"[{message.type}] {message.text}"
        self.console.append(line)
        print("browser console:", line)
        if message.type == "error":  # a failed resource load too: nothing the page asks for may be missing
            self.errors.append(line)

    def _on_request(self, request: Any) -> None:
        host = urlparse(request.url).hostname or ""
        if request.url.startswith(("http:", "https:")) and host not in ("localhost", "127.0.0.1"):
            self.external_urls.add(request.url)

    def unexpected_urls(self) -> list[str]:
        """Addresses outside this machine the page asked for that :data:`EXTERNAL_ALLOWED` does not expect."""
        return sorted(url for url in self.external_urls if not any(p.match(url) for p in EXTERNAL_ALLOWED))

    # ------------------------------------------------------------------ waiting
    def settle(self) -> None:
        """Wait until the server is not busy with this page's events and the browser has drawn twice."""
        self.page.wait_for_function(BUSY_JS, timeout=self.timeout_ms)
        self.page.evaluate(TWO_FRAMES_JS)

    def open(self, url: str) -> None:
        """Load the app and wait until its tabs are shown and Bokeh's document is built."""
        self.page.goto(url, timeout=self.timeout_ms)
        self.tab_header("A cell's story").wait_for(timeout=self.timeout_ms)
        self.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=self.timeout_ms)
        self.settle()

    def tab_header(self, title: str) -> Any:
        return self.page.locator(".bk-tab").filter(has_text=re.compile(f"^{re.escape(title)}$"))

    def tab(self, title: str) -> None:
        """Show the tab ``title``; waits until its header is the active one."""
        header = self.tab_header(title)
        header.click()
        self.page.wait_for_function("(h) => h.classList.contains('bk-active')", arg=header.element_handle(),
                                    timeout=self.timeout_ms)

    def figure(self, prefix: str, drawn: bool = True) -> dict[str, Any]:
        """The shown figure whose title starts with ``prefix``, waiting for it (and for it to be drawn)."""
        condition = f"(p) => {{ const f = ({FIGURE_JS})(p); return f && (!{str(drawn).lower()} || f.finished); }}"
        self.page.wait_for_function(condition, arg=prefix, timeout=self.timeout_ms)
        return dict(self.page.evaluate(FIGURE_JS, prefix))

    def drawn(self) -> None:
        """Wait until every shown figure is drawn (raises ``AssertionError`` naming those that are not)."""
        try:
            self.page.wait_for_function(f"() => ({UNDRAWN_JS})().length === 0", timeout=self.timeout_ms)
        except Exception as exc:  # playwright's TimeoutError
            raise AssertionError(f"figures not drawn: {self.page.evaluate(UNDRAWN_JS)}") from exc

    def glyph_data(self, prefix: str) -> list[dict[str, Any]]:
        """The columns of each glyph of the figure titled ``prefix...`` (as the browser holds them)."""
        self.figure(prefix)
        return list(self.page.evaluate(GLYPH_DATA_JS, prefix))

    def wait_text(self, pattern: str | re.Pattern[str], timeout_s: float | None = None) -> str:
        """Wait until a shown element's text matches ``pattern``; return that text."""
        locator = self.page.get_by_text(re.compile(pattern) if isinstance(pattern, str) else pattern).first
        locator.wait_for(timeout=self.timeout_ms if timeout_s is None else timeout_s * 1000)
        return str(locator.inner_text())

    # ------------------------------------------------------------------ the sidebar
    def slice_label(self) -> str:
        """The sidebar's ``Slice N: label``."""
        return str(self._slice_label().inner_text()).strip()

    def _slice_label(self) -> Any:
        return self.page.locator("p").filter(has_text=re.compile(r"^Slice \d+: ")).first

    def step_slice(self, key: str = "ArrowRight") -> str:
        """Press ``key`` on the slice player's slider; wait until the slice label changes; return it."""
        from playwright.sync_api import expect

        before = self.slice_label()
        self.page.locator("input[type=range]").first.focus()
        self.page.keyboard.press(key)
        expect(self._slice_label()).not_to_have_text(before, timeout=self.timeout_ms)
        self.settle()
        return self.slice_label()

    def choose_slice(self, index: int) -> str:
        """Move the slice player to ``index`` (0-based) with the keyboard; return the label."""
        slider = self.page.locator("input[type=range]").first
        while int(slider.input_value()) != index:
            self.step_slice("ArrowRight" if int(slider.input_value()) < index else "ArrowLeft")
        self.wait_text(f"^Slice {index + 1}: ")
        return self.slice_label()

    def choose_run(self, run_id: str) -> str:
        """Choose the run whose label starts with ``run_id`` in the sidebar's run chooser; return its label."""
        option = self.page.locator("#sidebar option").filter(has_text=re.compile(f"^{re.escape(run_id)} "))
        option.first.wait_for(state="attached", timeout=self.timeout_ms)
        label = str(option.first.inner_text()).strip()
        has_option = self.page.locator("option").filter(has_text=re.compile(f"^{re.escape(run_id)} "))
        self.page.locator("#sidebar select").filter(has=has_option).first.select_option(label=label)
        self.wait_text(f"Run {re.escape(run_id)} in ")  # the Runs tab's summary of the run
        self.settle()
        return label

    def selected_run(self) -> str:
        """Label of the run chosen in the sidebar's run chooser."""
        return str(self.page.locator("#sidebar select").first.evaluate(
            "(s) => s.options[s.selectedIndex].text")).strip()

    def run_options(self) -> list[str]:
        """Labels of the runs in the sidebar's run chooser."""
        select = self.page.locator("#sidebar select").first
        return [str(text).strip() for text in select.locator("option").all_inner_texts()]

    # ------------------------------------------------------------------ maps
    def shot(self, prefix: str) -> bytes:
        """PNG of the figure titled ``prefix...`` (its element's box, as shown)."""
        x, y, width, height = self.figure(prefix)["rect"]
        return bytes(self.page.screenshot(clip={"x": x, "y": y, "width": width, "height": height}))

    def changed_shot(self, prefix: str, before: bytes, timeout_s: float = 30.0) -> bytes:
        """PNG of the figure once it differs from ``before`` (raises ``AssertionError`` after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            after = self.shot(prefix)
            if after != before:
                return after
            if time.monotonic() > deadline:
                raise AssertionError(f"the figure {prefix!r} looks the same after {timeout_s:.0f} s")
            self.page.wait_for_timeout(250)

    def click_point(self, prefix: str, x: float, y: float) -> None:
        """Click the point (x, y), in data coordinates, of the figure titled ``prefix...``."""
        self.page.evaluate(
            "(p) => { for (const v of Bokeh.index.all_views()) if (v.frame && v.model.title && "
            "(v.model.title.text || '').startsWith(p) && v.el.getBoundingClientRect().width > 0) "
            "{ v.el.scrollIntoView({block: 'center'}); return; } }", prefix)
        figure = self.figure(prefix)
        (left, top, _, _), (fx, fy, fw, fh) = figure["rect"], figure["frame"]
        (x0, x1), (y0, y1) = figure["x_range"], figure["y_range"]
        if not (min(x0, x1) <= x <= max(x0, x1) and min(y0, y1) <= y <= max(y0, y1)):
            raise ValueError(f"({x}, {y}) lies outside the figure {figure['title']!r}")
        self.page.mouse.click(left + fx + fw * (x - x0) / (x1 - x0), top + fy + fh * (y1 - y) / (y1 - y0))

    # ------------------------------------------------------------------ screenshots
    def choose_option(self, text: str) -> None:
        """Choose the option ``text`` (or ``text (...)``, e.g. a period with its dates) in the main area's select
        that offers it."""
        option = self.page.locator("#main option").filter(has_text=re.compile(rf"^{re.escape(text)}(\s|$)"))
        option.first.wait_for(state="attached", timeout=self.timeout_ms)
        label = str(option.first.inner_text()).strip()
        has_option = self.page.locator("option").filter(has_text=re.compile(f"^{re.escape(label)}$"))
        self.page.locator("#main select").filter(has=has_option).first.select_option(label=label)
        self.settle()

    def scroll_to(self, heading: str) -> None:
        """Scroll the main area so that the first heading starting with ``heading`` is at the window's top."""
        self.wait_text(f"^{re.escape(heading)}")
        self.page.get_by_text(re.compile(f"^{re.escape(heading)}")).first.evaluate(
            "(e) => e.scrollIntoView({block: 'start'})")
        self.settle()

    def screenshot(self, path: Path, full: bool = False) -> Path:
        """PNG of the window; ``full``: the window made as tall as the main area's content first."""
        self.settle()
        if not full:
            self.page.screenshot(path=str(path))
            return path
        size = dict(self.page.viewport_size or VIEWPORT)
        height = self.page.evaluate(
            "() => { const m = document.querySelector('#main');"
            " return Math.ceil(m.getBoundingClientRect().top + m.scrollHeight + 16); }")
        self.page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
        try:
            self.settle()
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            self.page.set_viewport_size(size)
        return path


def chosen_slice_and_cell(run: Path) -> tuple[int, tuple[int, int], tuple[float, float]]:
    """The slice with the most cells with new landslides (the first of ties), and a cell for its story:
    valid in every slice, with new landslides in that slice and in as many slices as possible (ties: the
    largest observed density in the slice). Returns (slice, (row, col), (x, y))."""
    import numpy as np

    from hazardcore.export import open_predictions

    predictions = open_predictions(run / "predictions.nc")
    observed = predictions["observed_density"].values
    valid = predictions["valid"].values > 0
    positive = np.nan_to_num(observed) > 0
    k = int(np.argmax((positive & valid).sum(axis=(1, 2))))
    score = (positive & valid).sum(axis=0) * 1e6 + np.nan_to_num(observed[k])  # densities are below 100 %
    candidates = np.where(valid.all(axis=0) & positive[k], score, -1.0)
    row, col = (int(i) for i in np.unravel_index(int(np.argmax(candidates)), candidates.shape))
    x, y = float(predictions["x"].values[col]), float(predictions["y"].values[row])
    return k, (row, col), (x, y)


def take(root: Path, out: Path, run_id: str | None, chromium: Path) -> list[Path]:
    """Serve ``root``, drive the views and write ``out/dashboard_<view>.png``; return the files."""
    from playwright.sync_api import sync_playwright

    from hazardcore.export import open_predictions

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with serve(root, out / "dashboard_server.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            dashboard = Dashboard(browser.new_page(viewport=VIEWPORT))
            dashboard.open(url)
            if run_id:
                dashboard.choose_run(run_id)
            chosen = dashboard.selected_run().split()[0]
            runs = sorted(root.glob(f"**/runs/{chosen}"))
            if not runs:
                raise SystemExit(f"run {chosen} not found under {root}")
            k, (row, col), (x, y) = chosen_slice_and_cell(runs[0])
            print(f"run {chosen}: slice {k + 1}, cell row {row}, column {col}")
            dashboard.choose_slice(k)
            dashboard.tab("Maps")
            dashboard.figure("observed density")
            dashboard.click_point("observed density", x, y)
            dashboard.tab("A cell's story")
            dashboard.wait_text(f"Cell row {row}, column {col} ")
            for name, title in {**VIEWS, **PICTURED_ONLY}.items():
                dashboard.tab(title)
                wait_for_view(dashboard, name)
                dashboard.page.evaluate("() => document.querySelector('#main')?.scrollTo(0, 0)")
                written.append(dashboard.screenshot(out / f"dashboard_{name}.png"))
                print("wrote", written[-1])
            labels = [str(label) for label in open_predictions(runs[0] / "predictions.nc")["slice"].values]
            for name, (title, heading) in PARTS.items():
                dashboard.tab(title)
                if name == "compare":  # the chosen period against the one before it (the first: after it)
                    dashboard.choose_option(labels[k - 1 if k > 0 else min(1, len(labels) - 1)])
                wait_for_view(dashboard, name)
                dashboard.scroll_to(heading)
                written.append(dashboard.screenshot(out / f"dashboard_{name}.png"))
                print("wrote", written[-1])
            if dashboard.errors or dashboard.unexpected_urls():
                raise SystemExit("the page logged JavaScript errors or asked for unexpected addresses:\n"
                                 + "\n".join(dashboard.errors + dashboard.unexpected_urls()))
        finally:
            browser.close()
    (out / "dashboard_server.log").unlink(missing_ok=True)
    return written


def wait_for_view(dashboard: Dashboard, name: str) -> None:
    """Wait until the view ``name`` (a key of :data:`VIEWS`) shows its content."""
    if name == "runs":
        dashboard.wait_text(r"^Runs under ")
    elif name == "inventory":
        dashboard.figure("new landslide density")
        dashboard.figure("Cells with new landslides per slice")
    elif name == "predictors":
        dashboard.figure("")  # the channel map is the only figure shown
        dashboard.wait_text(r"pixels of ")
    elif name == "train":
        dashboard.wait_text(r"^Start training$")
        dashboard.figure("Loss (")
    elif name == "maps":
        for prefix in ("susceptibility", "density given occurrence", "hazard", "observed density"):
            dashboard.figure(prefix)
    elif name == "evaluation":
        dashboard.figure("confusion")
        dashboard.figure("ROC on the test cells")
    elif name == "cell":
        dashboard.wait_text(r"^Cell row \d+, column \d+")
        dashboard.figure("Probability of new landslides")
        dashboard.figure("Densities (% of the cell)")
    elif name == "scenarios":
        dashboard.wait_text(r" × 1 · ")  # the what-if without a change, computed
        dashboard.figure("hazard: what-if − ")
    elif name == "about":
        dashboard.wait_text(r"^Data sources \(catalog ")
    elif name == "time":
        for prefix in ("New landslide area in the region", "Probability of new landslides, regional",
                       "Density given occurrence, regional"):
            dashboard.figure(prefix)
    elif name == "compare":
        dashboard.wait_text(r"^Two periods compared")
    dashboard.drawn()
    dashboard.settle()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPOSITORY / "out" / "demo",
                        help="run root (default out/demo, the output of `make demo`)")
    parser.add_argument("--run", default=None, help="run id to show (default: the dashboard's choice, the newest)")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "docs" / "img", help="folder of the PNGs")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help="Chromium executable")
    options = parser.parse_args(argv)
    root = options.root.resolve()
    if not any(root.glob("**/runs/*/predictions.nc")):
        parser.error(f"{root} holds no predicted run: run `make demo` first (or pass --root)")
    if not options.chromium.exists():
        parser.error(f"no Chromium at {options.chromium} (pass --chromium PATH)")
    take(root, options.out.resolve(), options.run, options.chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
