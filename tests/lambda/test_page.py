"""The chat page in headless Chromium (Debian's chromium + chromium-driver), served by the real
handler behind a local stand-in for API Gateway: the page lives at /dev/rag like a stage path,
POST /dev/rag/query becomes an AWS_PROXY event, and Bedrock is botocore's Stubber.

What is checked is the DOM (the conversation, the answers, their sources, readable errors, that a
hostile answer stays text) and the computed colours of each theme, not pixels. Screenshots for a
person to look at go to target/: page-test.png, page-light.png and page-dark.png (the last two,
a conversation about the sample corpus in each theme, are the ones in docs/), and waking-up.png.
"""
import http.server
import os
import shutil
import tempfile
import threading
import time
import unittest

from test_handler import KB, MODEL, ROOT, stubbed_handler

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
STAGE = "/dev"


class StandInForApiGateway(http.server.BaseHTTPRequestHandler):
    """Routes /dev/rag and /dev/rag/query to the handler as API Gateway's proxy integration does."""

    handler = None
    seen = []
    # With a key set, POST /rag/query without it answers as API Gateway does (403 Forbidden).
    required_key = None
    # This many of the next questions get API Gateway's integration timeout (504) instead of the
    # handler, as when the function is still waiting on a vector store that wakes up.
    gateway_timeouts = 0
    # When set, a question that reaches the handler first waits for this event (up to 10 s).
    hold = None
    # When set, (status, body) API Gateway answers every question with instead of the handler.
    gateway_error = None

    def log_message(self, *args):
        pass

    def _invoke(self, method):
        path = self.path.split("?")[0]
        StandInForApiGateway.seen.append((method, path))
        if not path.startswith(STAGE + "/"):
            self.send_error(403, "Missing Authentication Token")  # what API Gateway answers off-route
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        key = StandInForApiGateway.required_key
        if key and method == "POST" and self.headers.get("x-api-key") != key:
            data = b'{"message":"Forbidden"}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if method == "POST" and StandInForApiGateway.gateway_timeouts > 0:
            StandInForApiGateway.gateway_timeouts -= 1
            self._send(504, {"Content-Type": "application/json"}, b'{"message": "Endpoint request timed out"}')
            return
        if method == "POST" and StandInForApiGateway.gateway_error:
            status, text = StandInForApiGateway.gateway_error
            self._send(status, {"Content-Type": "application/json"}, text.encode())
            return
        if method == "POST" and StandInForApiGateway.hold is not None:
            StandInForApiGateway.hold.wait(10)
        event = {"httpMethod": method, "resource": path[len(STAGE):], "path": path[len(STAGE):], "body": body,
                 "isBase64Encoded": False, "requestContext": {"stage": STAGE[1:]}}
        out = StandInForApiGateway.handler.handler(event, None)
        self._send(out["statusCode"], out["headers"], out["body"].encode())

    def _send(self, status, headers, data):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._invoke("GET")

    def do_POST(self):
        self._invoke("POST")


def shot_path(name):
    path = ROOT / "target" / name
    path.parent.mkdir(exist_ok=True)
    return path


# Answers about the sample corpus (tests/acceptance/corpus), as Bedrock gives them.
def corpus_reference(name, text):
    return {"content": {"text": text},
            "location": {"type": "S3", "s3Location": {"uri": f"s3://ragstack-dev-documents/documents/{name}"}}}


SATURDAY = {
    "sessionId": "session-7",
    "output": {"text": "On Saturdays the museum is open **10:00 to 18:00**.\n\n- Last admission is 45 minutes "
                       "before closing.\n- On public holidays it keeps its Sunday hours."},
    "citations": [{"retrievedReferences": [corpus_reference(
        "opening-hours.md", "Saturday and Sunday: 10:00 to 18:00. Last admission is 45 minutes before closing.")]}],
}
TICKETS = {
    "sessionId": "session-7",
    "output": {"text": "An adult ticket costs `14 euros`; children under 12 enter free with an adult."},
    "citations": [{"retrievedReferences": [corpus_reference(
        "tickets.md", "An adult ticket costs 14 euros; children under 12 enter free with an adult.")]}],
}


def expected(question, session=None):
    params = {"input": {"text": question}, "retrieveAndGenerateConfiguration": {
        "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": KB, "modelArn": MODEL}}}
    if session:
        params["sessionId"] = session
    return params


class PageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
            raise unittest.SkipTest("Debian's chromium and chromium-driver are not installed (scripts/test installs them)")
        cls.h, cls.stub = stubbed_handler()
        StandInForApiGateway.handler = cls.h
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInForApiGateway)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_address[1]}{STAGE}/rag"

        os.environ["SE_OFFLINE"] = "true"  # Selenium must never try to download a driver
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        cls.profile = tempfile.mkdtemp()
        for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={cls.profile}", "--window-size=1000,800"]:
            options.add_argument(flag)
        cls.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.server.shutdown()
        cls.stub.deactivate()
        shutil.rmtree(cls.profile, ignore_errors=True)

    def ask(self, question):
        from selenium.webdriver.common.by import By

        d = self.driver
        d.find_element(By.ID, "question").send_keys(question)
        d.find_element(By.ID, "send").click()

    def type_and_press_enter(self, question):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver.find_element(By.ID, "question").send_keys(question + Keys.ENTER)

    def theme(self, scheme):
        """Emulates the system's colour scheme (Chrome DevTools Protocol's Emulation.setEmulatedMedia)."""
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                    {"features": [{"name": "prefers-color-scheme", "value": scheme}]})

    def colours(self, css):
        return self.driver.execute_script(
            "const s = getComputedStyle(document.querySelector(arguments[0]));"
            "return [s.backgroundColor, s.color];", css)

    def test_a_conversation_about_the_sample_corpus_in_both_themes(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.stub.add_response("retrieve_and_generate", SATURDAY,
                               expected("When does the Tidewater Lighthouse Museum open on Saturdays?"))
        # The follow-up carries the session Bedrock gave the first answer.
        self.stub.add_response("retrieve_and_generate", TICKETS, expected("And what does a ticket cost?", "session-7"))
        self.theme("light")
        self.driver.get(self.url)
        box = self.driver.find_element(By.ID, "question")
        self.assertEqual(self.driver.switch_to.active_element, box, "the question box has the focus")
        self.assertEqual(self.driver.find_element(By.CSS_SELECTOR, "label[for=question]").get_attribute("textContent"),
                         "Your question")
        # Shift+Enter adds a line and sends nothing.
        box.send_keys("first line" + Keys.SHIFT + Keys.ENTER + Keys.SHIFT + "second line")
        self.assertEqual(box.get_attribute("value"), "first line\nsecond line")
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, ".turn"), [])
        box.clear()

        # Enter sends.
        self.type_and_press_enter("When does the Tidewater Lighthouse Museum open on Saturdays?")
        first = self.wait_for(".turn", "10:00 to 18:00")
        self.assertEqual(first.find_element(By.CSS_SELECTOR, ".answer strong").text, "10:00 to 18:00")
        self.assertEqual([li.text for li in first.find_elements(By.CSS_SELECTOR, ".answer ul li")],
                         ["Last admission is 45 minutes before closing.", "On public holidays it keeps its Sunday hours."])
        self.assertEqual(first.find_element(By.CSS_SELECTOR, ".sources .name").text, "opening-hours.md")
        self.assertEqual(box.get_attribute("value"), "", "the box is emptied when a question is sent")
        self.type_and_press_enter("And what does a ticket cost?")
        self.wait_for(".turn", "children under 12")
        self.stub.assert_no_pending_responses()

        # Oldest at the top, the input below the conversation, the newest answer in view.
        turns = self.driver.find_elements(By.CSS_SELECTOR, "#conversation .turn")
        self.assertEqual([t.find_element(By.CSS_SELECTOR, ".question").text for t in turns],
                         ["When does the Tidewater Lighthouse Museum open on Saturdays?", "And what does a ticket cost?"])
        self.assertEqual(turns[1].find_element(By.CSS_SELECTOR, ".answer code").text, "14 euros")
        self.assertLess(turns[0].rect["y"], turns[1].rect["y"])
        footer = self.driver.find_element(By.TAG_NAME, "footer").rect
        height = self.driver.execute_script("return window.innerHeight")
        self.assertAlmostEqual(footer["y"] + footer["height"], height, delta=2, msg="the input is pinned to the bottom")
        log = self.driver.find_element(By.ID, "conversation")
        self.assertEqual((log.get_attribute("role"), log.get_attribute("aria-live")), ("log", "polite"))
        self.driver.save_screenshot(str(shot_path("page-light.png")))
        light = self.colours("body")

        self.theme("dark")
        dark = self.colours("body")
        self.assertNotEqual(light, dark)
        self.assertEqual(light, ["rgb(255, 255, 255)", "rgb(29, 29, 31)"])
        self.assertEqual(dark, ["rgb(19, 20, 22)", "rgb(232, 234, 237)"])
        self.driver.save_screenshot(str(shot_path("page-dark.png")))
        self.theme("light")

        # New conversation: the turns go, and the next question starts a session of its own.
        self.driver.find_element(By.ID, "new").click()
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, ".turn"), [])
        self.assertEqual(self.driver.switch_to.active_element, box)
        self.stub.add_response("retrieve_and_generate", SATURDAY, expected("And on Sundays?"))
        self.type_and_press_enter("And on Sundays?")
        self.wait_for(".turn", "10:00 to 18:00")
        self.stub.assert_no_pending_responses()

    def test_markdown_is_rendered_but_a_hostile_answer_stays_text(self):
        from selenium.webdriver.common.by import By

        hostile = ("<img src=x onerror=\"window.pwned=1\"> <script>window.pwned=2</script>\n\n"
                   "[click me](javascript:window.pwned=3) and [docs](https://example.com/a?b=1)\n\n"
                   "```\n<b>not bold</b>\n```\n\n1. one\n2. **two** and *three* and snake_case_name\n\n"
                   "### Heading <i>x</i>\n\n    # an indented comment\n>   # quoted too\nlast line")
        self.stub.add_response("retrieve_and_generate", {"sessionId": "s-h", "output": {"text": hostile}, "citations": [
            {"retrievedReferences": [{"content": {"text": "<img src=y onerror=\"window.pwned=4\">"},
                                      "location": {"type": "S3", "s3Location": {
                                          "uri": "s3://b/<img src=z onerror=window.pwned=5>.md"}}}]}]})
        self.driver.get(self.url)
        self.ask("Anything?")
        turn = self.wait_for(".turn", "click me")
        answer = turn.find_element(By.CSS_SELECTOR, ".answer")
        self.assertIsNone(self.driver.execute_script("return window.pwned"))
        for tag in ("img", "script", "b", "i"):
            self.assertEqual(turn.find_elements(By.TAG_NAME, tag), [], f"no <{tag}> from the model's text")
        self.assertIn('<img src=x onerror="window.pwned=1">', answer.text)
        # The javascript: link is text; the https one a link that opens apart from the page.
        links = answer.find_elements(By.TAG_NAME, "a")
        self.assertEqual([(a.text, a.get_attribute("href")) for a in links], [("docs", "https://example.com/a?b=1")])
        self.assertEqual(links[0].get_attribute("rel"), "noopener noreferrer")
        self.assertIn("[click me](javascript:window.pwned=3)", answer.text)
        self.assertEqual(answer.find_element(By.CSS_SELECTOR, "pre code").text, "<b>not bold</b>")
        self.assertEqual([li.text for li in answer.find_elements(By.CSS_SELECTOR, "ol li")],
                         ["one", "two and three and snake_case_name"])
        self.assertEqual(answer.find_element(By.CSS_SELECTOR, "ol li strong").text, "two")
        self.assertEqual(answer.find_element(By.CSS_SELECTOR, "ol li em").text, "three")
        self.assertEqual(answer.find_element(By.CSS_SELECTOR, "h5").text, "Heading <i>x</i>")
        # An indented "#" line is text, not a heading, and the renderer moves past it.
        self.assertIn("# an indented comment", answer.text)
        self.assertIn("last line", answer.text)
        self.assertIn('<img src=y onerror="window.pwned=4">', turn.find_element(By.CSS_SELECTOR, ".excerpt").text)
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".sources .name").text, "<img src=z onerror=window.pwned=5>.md")

    def test_an_expired_session_is_asked_again_on_its_own_and_says_so(self):
        from selenium.webdriver.common.by import By

        self.stub.add_response("retrieve_and_generate", {"sessionId": "old", "output": {"text": "Open at ten."},
                                                         "citations": []})
        self.stub.add_client_error("retrieve_and_generate", service_error_code="ValidationException",
                                   service_message="Session with Id old is not valid. Please check and try again.",
                                   http_status_code=400, expected_params=expected("And on Sundays?", "old"))
        self.stub.add_response("retrieve_and_generate", SATURDAY, expected("And on Sundays?"))
        self.driver.get(self.url)
        self.ask("When do you open?")
        self.wait_for(".turn", "Open at ten.")
        self.ask("And on Sundays?")
        turn = self.wait_for(".turn", "10:00 to 18:00")
        self.assertIn("earlier conversation had expired", turn.find_element(By.CSS_SELECTOR, ".note").text)
        self.stub.assert_no_pending_responses()

    def wait_for(self, css, text=None, timeout=10):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def found(d):
            for e in d.find_elements(By.CSS_SELECTOR, css):
                if text is None or text in e.text:
                    return e
            return False

        try:
            return WebDriverWait(self.driver, timeout).until(found)
        except Exception:
            conversation = self.driver.find_element(By.ID, "conversation").get_attribute("innerHTML")
            self.fail(f"no {css} containing {text!r} within {timeout}s; the conversation shows: {conversation}")

    def test_a_question_typed_into_the_page_shows_the_answer_and_its_sources_then_a_readable_error(self):
        from selenium.webdriver.common.by import By

        StandInForApiGateway.seen.clear()
        self.stub.add_response(
            "retrieve_and_generate",
            {
                "sessionId": "session-1",
                "output": {"text": "Refunds take five days."},
                "citations": [{"retrievedReferences": [{
                    "content": {"text": "Refunds are paid within 5 days."},
                    "location": {"type": "S3", "s3Location": {"uri": "s3://docs/documents/refunds.md"}},
                }]}],
            },
        )
        self.driver.get(self.url)
        self.assertEqual(self.driver.title, "Ask your documents")
        self.ask("How long do refunds take?")
        turn = self.wait_for(".turn", "Refunds take five days.")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".question").text, "How long do refunds take?")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".answer").text, "Refunds take five days.")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".sources summary").text, "Sources (1)")
        # A source is its file name, with the full URI in a details line and on hover.
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".sources .name").text, "refunds.md")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".sources .name").get_attribute("title"),
                         "s3://docs/documents/refunds.md")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".sources .uri").text, "s3://docs/documents/refunds.md")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".sources .excerpt").text, "Refunds are paid within 5 days.")
        # The page found its query endpoint under the stage path.
        self.assertIn(("POST", "/dev/rag/query"), StandInForApiGateway.seen)

        # A follow-up carries the session; Bedrock throttles it; the page says so readably.
        self.stub.add_client_error("retrieve_and_generate", service_error_code="ThrottlingException",
                                   service_message="Rate exceeded", http_status_code=429,
                                   expected_params={"input": {"text": "And in euros?"}, "sessionId": "session-1",
                                                    "retrieveAndGenerateConfiguration": {
                                                        "type": "KNOWLEDGE_BASE",
                                                        "knowledgeBaseConfiguration": {"knowledgeBaseId": KB,
                                                                                       "modelArn": MODEL}}})
        self.ask("And in euros?")
        error = self.wait_for(".answer.error", "try again")
        self.assertIn("Bedrock is busy", error.text)
        self.stub.assert_no_pending_responses()
        self.driver.save_screenshot(str(shot_path("page-test.png")))

    def test_with_an_api_key_required_the_page_asks_for_it_once_says_when_it_is_wrong_and_keeps_it(self):
        from selenium.webdriver.common.by import By

        key = "k" * 30
        StandInForApiGateway.required_key = key
        self.addCleanup(setattr, StandInForApiGateway, "required_key", None)
        answer = {"sessionId": "session-9", "output": {"text": "Open at nine."}, "citations": []}
        self.driver.get(self.url)
        self.driver.execute_script("localStorage.clear()")
        self.ask("When do you open?")
        self.wait_for(".answer.error", "requires an API key")
        form = self.driver.find_element(By.ID, "key")
        self.assertTrue(form.is_displayed())
        # A wrong key: refused, asked again, nothing reached Bedrock.
        self.driver.find_element(By.ID, "api-key").send_keys("wrong-key-0123456789")
        self.driver.find_element(By.ID, "save-key").click()
        self.wait_for(".answer.error", "was refused")
        self.assertIn("refused", self.driver.find_element(By.ID, "key-label").text)
        # The right key: the pending question is asked and answered.
        self.stub.add_response("retrieve_and_generate", answer)
        self.driver.find_element(By.ID, "api-key").send_keys(key)
        self.driver.find_element(By.ID, "save-key").click()
        self.wait_for(".answer", "Open at nine.")
        self.assertFalse(self.driver.find_element(By.ID, "key").is_displayed())
        # Kept in this browser: after a reload, no question about the key.
        self.stub.add_response("retrieve_and_generate", answer)
        self.driver.get(self.url)
        self.ask("When do you open?")
        self.wait_for(".answer", "Open at nine.")
        self.assertFalse(self.driver.find_element(By.ID, "key").is_displayed())
        self.stub.assert_no_pending_responses()

    def test_an_idle_environment_shows_it_is_waking_up_asks_again_by_itself_and_then_answers(self):
        from selenium.webdriver.common.by import By

        StandInForApiGateway.seen.clear()
        StandInForApiGateway.gateway_timeouts = 1
        StandInForApiGateway.hold = threading.Event()
        self.addCleanup(setattr, StandInForApiGateway, "hold", None)
        self.addCleanup(StandInForApiGateway.hold.set)  # a held request is let go even if the test fails
        self.addCleanup(setattr, StandInForApiGateway, "gateway_timeouts", 0)
        self.stub.add_response("retrieve_and_generate",
                               {"sessionId": "session-3", "output": {"text": "We open at nine."}, "citations": []})
        self.driver.get(self.url + "?retry_seconds=0.1,0.1")
        self.ask("When do you open?")
        # API Gateway's 504: the page says what is happening, in the live region, and asks again.
        waking = self.wait_for(".answer.waking", "waking up after being idle")
        self.assertIn("try 2 of 3", waking.text)
        self.assertEqual(self.driver.find_element(By.ID, "conversation").get_attribute("aria-live"), "polite")
        page = self.driver.find_element(By.TAG_NAME, "body").text
        self.assertNotIn("Endpoint request timed out", page)
        self.assertNotIn("504", page)
        self.assertEqual(self.driver.find_element(By.CSS_SELECTOR, ".turn .question").text, "When do you open?")
        self.driver.save_screenshot(str(shot_path("waking-up.png")))
        StandInForApiGateway.hold.set()
        turn = self.wait_for(".turn", "We open at nine.")
        self.assertEqual(turn.find_element(By.CSS_SELECTOR, ".answer").get_attribute("class"), "answer")
        posts = [p for m, p in StandInForApiGateway.seen if m == "POST"]
        self.assertEqual(posts, ["/dev/rag/query"] * 2, "the same question, asked once more")
        self.stub.assert_no_pending_responses()

        # The function's own 503 waking_up (Bedrock: the vector store timed out) is retried too.
        StandInForApiGateway.hold = None
        self.stub.add_client_error("retrieve_and_generate", service_error_code="DependencyFailedException",
                                   service_message="Request to the vector store timed out", http_status_code=424)
        self.stub.add_response("retrieve_and_generate",
                               {"sessionId": "session-3", "output": {"text": "And close at five."}, "citations": []})
        self.ask("And when do you close?")
        self.wait_for(".turn", "And close at five.")
        self.stub.assert_no_pending_responses()

    def test_an_environment_that_never_wakes_up_gets_a_clear_error_after_bounded_retries(self):
        from selenium.webdriver.common.by import By

        StandInForApiGateway.seen.clear()
        StandInForApiGateway.gateway_timeouts = 1000  # always
        self.addCleanup(setattr, StandInForApiGateway, "gateway_timeouts", 0)
        self.driver.get(self.url + "?retry_seconds=0.1,0.2")
        self.ask("When do you open?")
        error = self.wait_for(".answer.error", "did not wake up in time")
        self.assertIn("no answer after 3 tries", error.text)
        self.assertIn("Ask again in a minute", error.text)
        page = self.driver.find_element(By.TAG_NAME, "body").text
        self.assertNotIn("Endpoint request timed out", page)
        self.assertNotIn("Internal server error", page)
        # The question is kept for the next try, and no more were made than the page allows.
        self.assertEqual(self.driver.find_element(By.ID, "question").get_attribute("value"), "When do you open?")
        self.assertTrue(self.driver.find_element(By.ID, "send").is_enabled())
        time.sleep(0.5)  # no try after the last
        posts = [p for m, p in StandInForApiGateway.seen if m == "POST"]
        self.assertEqual(len(posts), 3, posts)

    def test_api_gateways_own_errors_are_never_shown_bare(self):
        # The function crashed or Lambda refused it: API Gateway answers 502 "Internal server error".
        StandInForApiGateway.gateway_error = (502, '{"message": "Internal server error"}')
        self.addCleanup(setattr, StandInForApiGateway, "gateway_error", None)
        self.driver.get(self.url)
        self.ask("When do you open?")
        error = self.wait_for(".answer.error", "could not answer")
        self.assertNotIn("Internal server error", error.text)
        self.assertIn("Try again in a moment", error.text)


if __name__ == "__main__":
    unittest.main()
