"""img2tex serve: the JSON API over plain HTTP, a burst of concurrent requests, and the page in a real
headless browser (Debian's chromium driven by Selenium through chromedriver)."""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from img2tex.errors import ModelError
from img2tex.predict import Img2Tex, default_model_dir
from img2tex.web.app import create_app
from img2tex.web.config import ServeConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUADRATIC = EXAMPLES / "quadratic.png"


@pytest.fixture(scope="module")
def reader() -> Img2Tex:
    try:
        return Img2Tex(default_model_dir(), beam=1)
    except ModelError:
        pytest.skip("no default model shipped")


@contextlib.contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real uvicorn server for `app` on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(reader: Img2Tex) -> Iterator[str]:
    """The app over the shipped model, served on loopback; yields its base URL."""
    with serving(create_app(reader, max_upload_bytes=200_000)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as c:
        yield c


def test_predict_multipart_and_raw_body_agree_with_the_api(client, reader):
    expected = reader.predict(QUADRATIC)
    data = QUADRATIC.read_bytes()
    for response in (
        client.post("/predict", files={"image": ("q.png", data, "image/png")}),
        client.post("/predict", content=data, headers={"content-type": "image/png"}),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["latex"] == expected.latex and body["tokens"] == expected.tokens
        assert body["score"] == pytest.approx(expected.score, abs=1e-4) and 0 < body["confidence"] <= 1
        assert body["mathml"] == expected.mathml and "<mfrac>" in body["mathml"]


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({}, 400, "empty upload"),
        ({"content": b"not an image"}, 400, "not an image"),
        ({"files": {"other": ("q.png", b"x", "image/png")}}, 400, "field 'image'"),
        ({"files": {"image": ("q.png", b"", "image/png")}}, 400, "empty"),
        ({"content": b"x" * 300_000}, 413, "too large"),
        ({"files": {"image": ("q.png", b"x" * 300_000, "image/png")}}, 413, "too large"),
        (
            {"content": b"--b\r\nContent-Disposition: form-data; name=image\r\n\r\nno end", "headers": {}},
            400,
            "",
        ),
    ],
)
def test_bad_uploads_get_a_4xx_json_error(client, kwargs, status, message):
    if kwargs.get("headers") == {}:  # a multipart body that never ends
        kwargs["headers"] = {"content-type": "multipart/form-data; boundary=b"}
    response = client.post("/predict", **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_blank_and_huge_images_are_refused(client):
    blank = io.BytesIO()
    Image.new("L", (60, 30), 255).save(blank, "PNG")
    response = client.post("/predict", content=blank.getvalue())
    assert response.status_code == 400 and "blank" in response.json()["error"]


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "static/katex/katex.min.js" in page.text
    for path in ("/static/app.js", "/static/katex/katex.min.js", "/static/katex/fonts/KaTeX_Main-Regular.woff2"):
        assert client.get(path).status_code == 200, path
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/predict").status_code == 405


def test_fifty_concurrent_requests_are_all_answered(server, reader):
    """A burst of good and bad uploads at once: each gets its own right answer, and the server stays up."""
    good = QUADRATIC.read_bytes()
    expected = reader.predict(QUADRATIC).latex

    def post(i: int) -> tuple[int, dict]:
        body = good if i % 5 else b"junk"
        r = httpx.post(f"{server}/predict", content=body, timeout=120)
        return r.status_code, r.json()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(post, range(50)))
    for i, (status, body) in enumerate(results):
        if i % 5:
            assert status == 200 and body["latex"] == expected
        else:
            assert status == 400 and "error" in body
    assert httpx.get(f"{server}/health", timeout=10).json()["status"] == "ok"


def test_concurrent_requests_are_decoded_in_batches(server):
    before = httpx.get(f"{server}/health", timeout=10).json()["batching"]
    body = QUADRATIC.read_bytes()
    with ThreadPoolExecutor(16) as pool:
        codes = list(
            pool.map(lambda _: httpx.post(f"{server}/predict", content=body, timeout=60).status_code, range(32))
        )
    after = httpx.get(f"{server}/health", timeout=10).json()["batching"]
    assert codes == [200] * 32
    images, batches = after["images"] - before["images"], after["batches"] - before["batches"]
    assert images == 32 and batches < images


def _slow(reader: Img2Tex, seconds: float) -> Img2Tex:
    """A reader over the same model whose every batch takes `seconds` longer."""
    slow = Img2Tex(reader.model_dir, beam=1)
    fast = slow.predict_arrays

    def predict_arrays(arrays):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return fast(arrays)

    slow.predict_arrays = predict_arrays  # type: ignore[method-assign]
    return slow


def test_a_full_queue_answers_503_with_retry_after(reader):
    app = create_app(_slow(reader, 0.5), config=ServeConfig(max_batch=1, max_queue=1, max_wait_ms=0))
    body = QUADRATIC.read_bytes()
    with serving(app) as url, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: httpx.post(f"{url}/predict", content=body, timeout=60), range(6)))
    busy = [r for r in answers if r.status_code == 503]
    assert busy and all(r.headers["retry-after"] == "1" and "busy" in r.json()["error"] for r in busy)
    assert any(r.status_code == 200 for r in answers)
    assert {r.status_code for r in answers} <= {200, 503}


def test_a_request_past_its_time_limit_gets_504(reader):
    app = create_app(_slow(reader, 1.0), config=ServeConfig(timeout_s=0.2))
    with serving(app) as url:
        r = httpx.post(f"{url}/predict", content=QUADRATIC.read_bytes(), timeout=60)
    assert r.status_code == 504 and "no answer within 0.2 s" in r.json()["error"]


def _chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("needs Debian's chromium and chromium-driver (see README)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_page_reads_an_uploaded_image_in_a_real_browser(server, reader):
    """Open the page in headless Chromium, pick examples/quadratic.png, read the LaTeX and the
    KaTeX preview off the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _chrome()
    try:
        browser.get(server + "/")
        browser.find_element(By.ID, "file").send_keys(str(QUADRATIC))
        WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "latex").get_attribute("value"))
        latex = browser.find_element(By.ID, "latex").get_attribute("value")
        assert latex == reader.predict(QUADRATIC).latex
        assert browser.find_elements(By.CSS_SELECTOR, "#preview .katex")  # KaTeX typeset the preview offline
        assert "confidence" in browser.find_element(By.ID, "confidence").text
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


def test_verify_switch_answers_with_a_typeset_candidate(client, needs_latex):
    from img2tex.predict import Img2Tex

    expected = Img2Tex(beam=1, verify=True).predict(QUADRATIC).latex
    response = client.post("/predict?verify=1", content=QUADRATIC.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["latex"] == expected


def test_a_second_model_answers_by_name(reader):
    """Two models served side by side: ?model=NAME picks one (each batches on its own), an unknown
    name is a 400 that lists the names, /health lists them."""
    other = Img2Tex(reader.model_dir, beam=1)
    seen: list[int] = []
    decode = other.predict_arrays

    def predict_arrays(arrays):  # type: ignore[no-untyped-def]
        seen.append(len(arrays))
        return decode(arrays)

    other.predict_arrays = predict_arrays  # type: ignore[method-assign]
    body = QUADRATIC.read_bytes()
    with serving(create_app({"default": reader, "handwritten": other})) as url:
        plain = httpx.post(f"{url}/predict", content=body, timeout=60)
        assert plain.status_code == 200 and not seen  # the default model answered
        hand = httpx.post(f"{url}/predict?model=handwritten", content=body, timeout=60)
        assert hand.status_code == 200 and seen == [1] and hand.json()["latex"] == plain.json()["latex"]
        bad = httpx.post(f"{url}/predict?model=cursive", content=body, timeout=60)
        assert bad.status_code == 400
        assert bad.json()["error"] == "no model 'cursive' here (models: default, handwritten)"
        assert httpx.get(f"{url}/health").json()["models"] == ["default", "handwritten"]


def _draw(browser, pad, strokes) -> None:  # type: ignore[no-untyped-def]
    """Draw `strokes` (lists of (x, y) in the pad's CSS pixels from its top-left) with the mouse:
    real pointer events, as a person's hand makes them."""
    from selenium.webdriver.common.action_chains import ActionChains

    width, height = pad.size["width"], pad.size["height"]
    for points in strokes:
        chain = ActionChains(browser, duration=10)
        x0, y0 = points[0]
        chain.move_to_element_with_offset(pad, round(x0 - width / 2), round(y0 - height / 2)).click_and_hold()
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            chain.move_by_offset(round(xb - xa), round(yb - ya))
        chain.release().perform()


def test_drawing_pad_reads_a_handwritten_formula_in_a_real_browser(reader):
    """Where a handwritten model is served, the page shows a drawing pad: write "a + b" on it with
    the mouse and the handwritten model's LaTeX appears; undo and clear work on the strokes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        hand = Img2Tex("handwritten", beam=1)
    except ModelError:
        pytest.skip("no handwritten model shipped")
    with serving(create_app({"default": reader, "handwritten": hand})) as url:
        browser = _chrome()
        try:
            browser.set_window_size(1000, 900)
            browser.get(url + "/")
            WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "pad").is_displayed())
            pad = browser.find_element(By.ID, "pad")

            def ink() -> int:  # dark pixels on the pad's canvas
                script = (
                    "const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                    "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n;"
                )
                return browser.execute_script(script, pad)

            _draw(browser, pad, [[(40, 60), (60, 40)]])  # a stray stroke, then undone
            assert ink() > 0
            browser.find_element(By.ID, "pad-undo").click()
            assert ink() == 0

            def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> list[tuple[int, int]]:
                angles = [math.radians(a0 + (a1 - a0) * i / 16) for i in range(17)]
                return [(round(cx + rx * math.cos(a)), round(cy + ry * math.sin(a))) for a in angles]

            # "a + b", glyphs about 60 px tall (an x alone reads as X: a hand's x and X differ in size only)
            a = [arc(61, 93, 21, 27, -30, 330) + [(82, 120)]]
            plus = [[(107, 90), (155, 90)], [(131, 66), (131, 114)]]
            b = [[(174, 36), (174, 120)], arc(192, 99, 18, 21, 180, 540)]
            _draw(browser, pad, a + plus + b)
            browser.find_element(By.ID, "pad-read").click()
            WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "latex").get_attribute("value"))
            latex = browser.find_element(By.ID, "latex").get_attribute("value")
            assert latex.replace(" ", "") == "a+b"
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
            browser.find_element(By.ID, "pad-clear").click()
            assert ink() == 0
        finally:
            browser.quit()
