"""`vrl report`'s production section: `vrl monitor`'s last verdict and the histograms of
training vs served traffic per feature, from request logs written by hand (no server,
no pipeline run)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from tests.vrl.traffic import log_colour_traffic, logging_config, push_colour_model, shifted
from vrl import cli, drift, monitor_files

PNG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)">')


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """Shifted traffic logged for the pushed colour model, and `vrl monitor`'s output."""
    root = str(tmp_path_factory.mktemp("production"))
    base = push_colour_model(root)
    config = os.path.join(root, "models.config")
    logging_config(config, base, {"colour": "colour"})
    log_colour_traffic(os.path.join(root, "logs", "colour"), "colour", shifted(2, 60))
    out = os.path.join(root, "monitor")
    code = cli.main(["monitor", "colour", "--model-config", config, "--out", out])
    return root, base, out, code


def _report(root: str, base: str, monitor: str, out: str) -> str:
    argv = ["report", "colour:1", "--serving-base", base, "--home", os.path.join(root, "runs")]
    assert cli.main(argv + ["--monitor", monitor, "--out", out]) == 0
    with open(out, encoding="utf-8") as f:
        page = f.read()
    return page.split("<h2>Production</h2>", 1)[1].split("<h2>", 1)[0]


def test_section_names_the_drifted_features_and_draws_each_feature(monitored, tmp_path):
    root, base, out, code = monitored
    assert code == 1
    with open(os.path.join(out, monitor_files.VERDICT_FILE), encoding="utf-8") as f:
        verdict = json.load(f)
    drifted = verdict["versions"]["1"]["drifted"]
    assert {"format", "height", "width", "predicted_class"} <= set(drifted)
    section = _report(root, base, out, str(tmp_path / "report.html"))
    assert f"DRIFT: {', '.join(verdict['drifted'])}" in section
    assert f"drifted features of version 1: <b>{', '.join(drifted)}</b>" in section
    pictures = dict(PNG.findall(section))
    drawn = {alt.split(":")[0] for alt in pictures}
    assert set(drift.FEATURES) <= drawn
    for alt, data in pictures.items():
        with Image.open(io.BytesIO(base64.b64decode(data))) as picture:
            assert picture.format == "PNG", alt
            assert picture.width > 200 and picture.height > 100, alt


def test_a_version_that_answered_nothing_says_so(monitored, tmp_path):
    root, base, out, _ = monitored
    other = tmp_path / "monitor"
    other.mkdir()
    with open(os.path.join(out, monitor_files.VERDICT_FILE), encoding="utf-8") as f:
        verdict = json.load(f)
    verdict["versions"] = {"2": verdict["versions"]["1"]}
    (other / monitor_files.VERDICT_FILE).write_text(json.dumps(verdict))
    section = _report(root, base, str(other), str(tmp_path / "report.html"))
    assert "version 1 answered no logged request in that window (versions that did: 2)" in section
    assert "<img" not in section


def test_no_monitor_output_is_one_line(monitored, tmp_path):
    root, base, _, _ = monitored
    section = _report(root, base, str(tmp_path / "none"), str(tmp_path / "report.html"))
    assert "no <code>vrl monitor</code> verdict at" in section
    assert "<img" not in section


class _Outside(HTMLParser):
    """What an HTML page would load from outside itself (anything but data: URLs and
    in-page #anchors), and the frames that are not sandboxed."""

    URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "data", "poster"}
    URL_ATTRIBUTES |= {"background", "xlink:href", "ping", "manifest", "codebase", "lowsrc"}
    CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?!data:|#)|@import", re.IGNORECASE)
    SCRIPT_LOADS = re.compile(r"fetch\(|XMLHttpRequest|import\(|WebSocket|https?:|//[a-z]", re.I)

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            urls = (value or "").split(",") if name == "srcset" else [value or ""]
            for url in urls:
                url = url.strip().lower()
                if name in self.URL_ATTRIBUTES and url and not url.startswith(("data:", "#")):
                    self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and self.CSS_URL.search(value or ""):
                self.found.append(f"<{tag} style={value!r}>")
        if tag == "link" or (tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh"):
            self.found.append(f"<{tag} {attrs}>")
        if tag in ("iframe", "frame", "object", "embed") and "sandbox" not in attrs:
            self.found.append(f"<{tag}> without sandbox")
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style" and self.CSS_URL.search(data):
            self.found.append(f"<style> {data[:80]!r}")
        if self._in == "script" and self.SCRIPT_LOADS.search(data):
            self.found.append(f"<script> {data[:80]!r}")


def _outside(page: str) -> list[str]:
    parser = _Outside()
    parser.feed(page)
    parser.close()
    return parser.found


def test_the_outside_check_finds_what_a_page_would_load():
    page = (
        '<html><head><link rel="stylesheet" href="x.css"><style>@import "y.css";'
        'b{background:url(https://e.x/i.png)}</style><script src="https://cdn.x/v.js">'
        '</script><script>fetch("/a")</script></head><body><img src="//e.x/p.png">'
        '<iframe srcdoc="&lt;b&gt;"></iframe><img src="data:image/png;base64,AA">'
        '<a href="#top">top</a><div style="background:url(\'p.png\')"></div></body></html>'
    )
    found = _outside(page)
    assert len(found) == 8, found


def test_the_written_report_loads_nothing_from_outside_and_sandboxes_any_frame(monitored, tmp_path):
    """The page `vrl report` writes (provenance, TFDV-based production histograms,
    monitor verdict) opens offline: no external script, style, font or image, and
    every frame sandboxed (issue 21: the TFDV frame loaded scripts from two sites)."""
    root, base, monitor, _ = monitored
    out = str(tmp_path / "report.html")
    _report(root, base, monitor, out)
    with open(out, encoding="utf-8") as f:
        page = f.read()
    assert "<img" in page and "<script>" in page  # the parts the check looks into are there
    assert _outside(page) == []
