"""Gradio's real "Sign in with Hugging Face" (gradio.oauth, authlib's OpenID Connect client) against the fake Hub's
OpenID provider: a Space-mode app signs a browser in as alice, and its handler gets her profile and her token.

A Space is Gradio run with SYSTEM=spaces and SPACE_ID, and OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_SCOPES and
OPENID_PROVIDER_URL as the Hub sets them for `hf_oauth: true` (gradio.oauth reads them at import).
"""
import hashlib
import textwrap

import pytest
from support.browser import ARGS, CHROMIUM
from support.fakehub import SCOPES, FakeHub, space_env
from support.launch import fresh_home, remove, running_app

ALICE, BOB = "hf_aliceOAuthToken0123456789abcdefgh", "hf_bobOAuthToken0123456789abcdefghij"

APP = '''
import hashlib
import gradio as gr
from huggingface_hub import whoami


def who(profile: gr.OAuthProfile | None, oauth_token: gr.OAuthToken | None) -> str:
    if profile is None or oauth_token is None:
        return "signed out"
    name = whoami(token=oauth_token.token, cache=False)["name"]  # the token works on the Hub
    digest = hashlib.sha256(oauth_token.token.encode()).hexdigest()[:12]
    return f"{profile.username}|{name}|{digest}|{oauth_token.scope}"


with gr.Blocks() as demo:
    gr.LoginButton()
    answer = gr.Textbox(label="who", elem_id="who")
    gr.Button("Who am I", elem_id="ask").click(who, None, answer)

demo.launch()
'''


@pytest.mark.slow
@pytest.mark.browser
def test_a_visitor_signs_in_with_the_fake_hub_and_the_handler_gets_their_token():
    sync_api = pytest.importorskip("playwright.sync_api")
    root = fresh_home("oauth")
    (root / "app.py").write_text(textwrap.dedent(APP))
    home = root / "home"
    home.mkdir()
    try:
        with FakeHub(users={ALICE: "alice", BOB: "bob"}, oauth_user="alice") as hub, \
                running_app(home, cwd=root, app=root / "app.py", **space_env(hub)) as (url, log, _), \
                sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page()
            page.goto(url, timeout=90_000)
            page.locator("#ask").click()
            answer = page.locator("#who textarea")
            page.wait_for_function("e => e.value === 'signed out'", arg=answer.element_handle(), timeout=60_000)
            page.get_by_role("button", name="Sign in with Hugging Face").click()
            page.get_by_role("button", name="Logout (alice)").wait_for(timeout=60_000)
            page.locator("#ask").click()
            page.wait_for_function("e => e.value !== ''", arg=answer.element_handle(), timeout=60_000)  # reloaded
            digest = hashlib.sha256(ALICE.encode()).hexdigest()[:12]
            assert answer.input_value() == f"alice|alice|{digest}|{SCOPES}"
            session = next(c for c in page.context.cookies() if c["name"] == "session")
            assert session["secure"] and session["sameSite"] == "None"  # kept on http://127.0.0.1: a secure context
            browser.close()
            paths = [r.path.split("?")[0] for r in hub.requests]
            for step in ("/.well-known/openid-configuration", "/oauth/authorize", "/oauth/token", "/oauth/jwks"):
                assert step in paths, f"the sign-in never called {step}"
            assert hub.codes == {}, "the authorization code was exchanged"
            for request in hub.requests:
                assert ALICE not in request.path and ALICE.encode() not in request.body
            assert ALICE not in log.read_text()
    finally:
        remove(root)
