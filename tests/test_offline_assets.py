"""The book's Sphinx extension (book/_ext/offline_assets.py): it serves MathJax, the widgets manager
and ONNX Runtime Web from the book's own _static/ when it has them, fetches them itself when it can,
and otherwise falls back to the CDNs, saying why in one line."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import book_ext

ROOT = Path(__file__).resolve().parent.parent
offline_assets = book_ext.load("offline_assets")


class FakeApp:
    def __init__(self, confdir: Path) -> None:
        self.confdir = str(confdir)
        self.js, self.css = [], []

    def add_js_file(self, name, **attributes):
        self.js.append((name, attributes))

    def add_css_file(self, name, **attributes):
        self.css.append((name, attributes.get("media")))


def _configure(confdir: Path, caplog) -> tuple[FakeApp, SimpleNamespace]:
    app = FakeApp(confdir)
    config = SimpleNamespace(
        html_static_path=[],
        html_context={},
        mathjax_path=None,
        nb_ipywidgets_js=None,
        templates_path=["theme"],
        exclude_patterns=[],
    )
    with caplog.at_level(logging.INFO):
        offline_assets._configure(app, config)
    return app, config


def _ort_source(app: FakeApp) -> str:
    (attributes,) = [a for name, a in app.js if name == "digit-pad.js"]
    assert attributes["loading_method"] == "defer"
    return attributes["data-ort"]


def test_local_assets_are_served_from_static(tmp_path, caplog):
    for name in offline_assets.ASSETS:
        (tmp_path / "web_assets" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "web_assets" / name).write_text("//")
    app, config = _configure(tmp_path, caplog)
    assert str(tmp_path / "web_assets") in config.html_static_path
    assert config.mathjax_path == "mathjax/tex-mml-chtml.js"
    assert _ort_source(app) == "ort/"
    assert "widgets/embed-amd.js" in config.nb_ipywidgets_js
    assert app.css == [("widgets/widgets.css", None), ("digit-pad.css", None), ("print.css", "print")]
    assert config.exclude_patterns == ["axe"], "axe-core, fetched for the tests, is not copied into the book"
    assert config.templates_path == [str(tmp_path / "book" / "_templates"), "theme"], "the book's templates first"
    assert config.html_context["default_mode"] == "light"


def test_without_npm_the_cdns_are_used_and_the_build_says_why(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(offline_assets.shutil, "which", lambda name: None)
    app, config = _configure(tmp_path, caplog)
    assert config.mathjax_path is None, "Sphinx's default (a CDN) stays"
    assert _ort_source(app) == offline_assets.CDN_ORT
    assert offline_assets.CDN_EMBED in config.nb_ipywidgets_js
    lines = [r.getMessage() for r in caplog.records if "offline_assets" in r.getMessage()]
    assert len(lines) == 1 and "npm is not installed" in lines[0] and "CDN" in lines[0]


def test_a_failing_fetch_falls_back_too(tmp_path, caplog, monkeypatch):
    if offline_assets.shutil.which("bash") is None:
        pytest.skip("needs bash")
    monkeypatch.setattr(offline_assets.shutil, "which", lambda name: "/usr/bin/npm")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "fetch_web_assets.sh").write_text("echo 'npm ERR! network unreachable' >&2; exit 1\n")
    app, config = _configure(tmp_path, caplog)
    assert _ort_source(app) == offline_assets.CDN_ORT
    assert any("failed: npm ERR! network unreachable" in r.getMessage() for r in caplog.records)


def test_the_cdn_fallback_is_the_version_the_script_fetches():
    script = (ROOT / "tools" / "fetch_web_assets.sh").read_text()
    version = next(line.split("=")[1].split()[0] for line in script.splitlines() if line.startswith("ORT_WEB="))
    assert f"onnxruntime-web@{version}/" in offline_assets.CDN_ORT


def test_the_navigation_toggles_are_named_after_their_page():
    nav = (
        '<ul><li class="has-children"><a class="reference internal" href="x.html">7. Fine-tuning</a>'
        '<details><summary><span class="toctree-toggle" role="presentation"><i class="fa"></i></span></summary>'
        "<ul><li>7.1</li></ul></details></li>"
        '<li><details><summary><p class="caption">Part</p></summary></details></li></ul>'
    )
    named = offline_assets.name_summaries(nav)
    assert '<summary aria-label="Pages under 7. Fine-tuning">' in named
    assert "<summary><p" in named, "a summary with text keeps it as its name"
