"""The release page served by the release API, signing in, in a real browser (Debian's chromium
driven by Playwright, as in tests/test_dashboard_browser.py, whose Tab this reuses: every request
not to 127.0.0.1 is aborted and asserted absent, uncaught page errors fail the test).

On 127.0.0.1: the real Lambda handler behind :class:`FakeApiGateway` (payload 2.0 events; the
component's data routes behind a JWT authorizer, its page routes public), moto for DynamoDB, ECS
and CloudWatch, a fake GitHub, and :class:`FakeIssuer`, whose ``/v1/authorize`` sends the browser
straight back with a code and whose ``/v1/token`` hands out a token only for the PKCE verifier
whose S256 hash the page sent. Each test saves a screenshot under tests/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from components.release_api import PAGE_ROUTES, ROUTES
from release_api import handler
from rollback.audit import DynamoAudit, new_handle, stamp
from tests import test_dashboard_browser as shared
from tests.conftest import ROOT
from tests.release_api_fakes import (
    AUDIENCE,
    PAGE_CLIENT_ID,
    FakeApiGateway,
    FakeIssuer,
    Recorded,
    page_requests,
)
from tests.test_dashboard_browser import Tab, chromium
from tests.test_release_api_handler import A, B, C, World, make_world, seed_dev

pytestmark = shared.pytestmark

PAGE_DIR = ROOT / "deplight" / "page"
POLL = "300"
PENDING_KEY, TOKEN_KEY = "deplight.sign-in", "deplight.session"
STORAGE = "() => ({local: {...localStorage}, session: {...sessionStorage}})"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer().running() as fake:
        yield fake


@dataclass
class Cloud:
    world: World
    gateway: FakeApiGateway
    tab: Tab

    @property
    def url(self) -> str:
        return f"{self.gateway.url}/?stack=dev&poll={POLL}"

    @property
    def page(self) -> Any:
        return self.tab.page

    def data_requests(self) -> list[Recorded]:
        return page_requests(self.gateway, "/releases") + page_requests(self.gateway, "/deployment")

    def sign_in(self) -> Any:
        self.page.goto(self.url)
        self.page.click(".sign-in-button")
        self.page.wait_for_selector(".history-table tbody tr")
        return self.page


@pytest.fixture
def cloud(
    request: pytest.FixtureRequest, browser: Any, moto_endpoint: str, issuer: FakeIssuer
) -> Iterator[Cloud]:
    """The page behind the release API; ``indirect`` parameters add to the function's env."""
    with make_world(moto_endpoint, issuer) as world:
        seed_dev(world)
        world.ecs.create_cluster(clusterName="web-dev")  # no service yet: nothing in progress
        for alarm in ("web-dev-5xx-rate", "web-dev-p99-latency"):
            world.cw.put_metric_alarm(AlarmName=alarm, MetricName="m", Namespace="n",
                                      Statistic="Sum", Period=60, EvaluationPeriods=1,
                                      Threshold=1, ComparisonOperator="GreaterThanThreshold")  # fmt: skip
            world.cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="quiet")
        env = world.env(DEPLIGHT_PAGE_CLIENT_ID=PAGE_CLIENT_ID, **getattr(request, "param", {}))
        deps = handler.Deps(clients=handler._client, page_dir=PAGE_DIR)
        gateway = FakeApiGateway(env, deps, authorized=ROUTES, public=PAGE_ROUTES)
        with gateway.running():
            issuer.redirect_uris = {f"{gateway.url}/"}
            issuer.token_answers.clear()
            issuer.issued.clear()
            issuer.deny = None
            issuer.authorize_queries.clear()
            tab = Tab(browser)
            try:
                yield Cloud(world, gateway, tab)
            finally:
                tab.close()


def test_sign_in_round_trip_then_the_history_renders_with_the_bearer_token(cloud: Cloud) -> None:
    page = cloud.page
    page.goto(cloud.url)
    page.locator("#sign-in").wait_for(state="visible")
    assert page.locator(".sign-in-issuer").inner_text() == cloud.world.issuer.url
    assert cloud.data_requests() == []  # nothing is asked for before the sign-in
    cloud.tab.shot("release-page-sign-in")

    page.click(".sign-in-button")
    rows = page.locator(".history-table tbody tr")
    rows.first.wait_for()
    assert [rows.nth(i).locator("td[data-label=Image]").inner_text() for i in range(2)] == [B, A]
    assert "is-current" in (rows.nth(0).get_attribute("class") or "")
    assert page.locator(".tier-badge").inner_text() == "development"
    assert B in page.locator(".current-facts").inner_text()
    page.wait_for_selector(".alarm-list .state")
    assert "OK web-dev-5xx-rate" in page.locator(".alarm-list").inner_text()
    assert page.locator("#who").inner_text() == "Signed in as alice@example.com"
    # the code and state left the address bar; the stack and poll parameters came back
    assert page.url == cloud.url
    [(status, _)] = cloud.world.issuer.token_answers
    assert status == 200
    [asked] = cloud.world.issuer.authorize_queries
    assert "audience" not in asked  # none configured: the provider's default
    [access] = cloud.world.issuer.issued
    data = cloud.data_requests()
    assert data and all(r.headers.get("authorization") == f"Bearer {access}" for r in data)
    # the API's largest page of the release log (its default is DEFAULT_PAGE records)
    limit = f"limit={handler.MAX_PAGE}"
    assert all(limit in r.path for r in page_requests(cloud.gateway, "/releases"))
    storage = page.evaluate(STORAGE)
    assert storage["local"] == {}
    assert set(storage["session"]) == {TOKEN_KEY}  # the verifier, state and nonce are gone
    assert json.loads(storage["session"][TOKEN_KEY])["access_token"] == access
    cloud.tab.shot("release-page-signed-in")


@pytest.mark.parametrize("cloud", [{"DEPLIGHT_PAGE_AUDIENCE": AUDIENCE}], indirect=True)
def test_a_page_audience_goes_into_the_authorization_request(cloud: Cloud) -> None:
    """Auth0 issues a JWT access token for an API only when the request names it."""
    page = cloud.page
    page.goto(cloud.url)
    page.click(".sign-in-button")
    page.locator(".history-table tbody tr").first.wait_for()
    [asked] = cloud.world.issuer.authorize_queries
    assert asked["audience"] == AUDIENCE


TAMPERED = {
    "verifier": ("the identity provider issued no token (invalid_grant: PKCE verification failed)",
                 [400]),
    "state": ("the answer's state is not the one this tab sent (a stale or forged sign-in); sign "
              "in again", []),
    "nonce": ("the ID token's nonce is not the one this tab sent; sign in again", [200]),
}  # fmt: skip
"""What the page says when one stored value no longer matches, and the token endpoint's answers
(none when the state is wrong: the code is never sent)."""


@pytest.mark.parametrize("field", sorted(TAMPERED))
def test_a_tampered_verifier_state_or_nonce_is_refused_with_a_visible_message(
    cloud: Cloud, field: str
) -> None:
    # Runs before the page's script on every document: on the callback, the stored value no
    # longer matches what the page sent to the issuer.
    cloud.tab.context.add_init_script(f"""
        if (new URLSearchParams(location.search).has("code")) {{
          const p = JSON.parse(sessionStorage.getItem("{PENDING_KEY}"));
          p.{field} = p.{field}.slice(0, -1) + (p.{field}.endsWith("A") ? "B" : "A");
          sessionStorage.setItem("{PENDING_KEY}", JSON.stringify(p));
        }}""")
    page = cloud.page
    page.goto(cloud.url)
    page.click(".sign-in-button")
    message = page.locator(".sign-in-message.error")
    message.wait_for(state="visible")
    expected, answers = TAMPERED[field]
    assert message.inner_text() == f"Sign-in failed: {expected}"
    assert [status for status, _ in cloud.world.issuer.token_answers] == answers
    assert cloud.data_requests() == []  # not even a token the issuer did issue is used
    assert page.locator(".sign-in-button").is_enabled()  # try again
    assert page.evaluate(STORAGE) == {"local": {}, "session": {}}
    assert page.url == cloud.url
    cloud.tab.shot(f"release-page-sign-in-bad-{field}")


def test_a_refused_sign_in_says_what_the_provider_answered(cloud: Cloud) -> None:
    cloud.world.issuer.deny = "access_denied"
    page = cloud.page
    page.goto(cloud.url)
    page.click(".sign-in-button")
    message = page.locator(".sign-in-message.error")
    message.wait_for(state="visible")
    assert message.inner_text() == ("Sign-in failed: the identity provider answered "
                                    "access_denied: the user said no")  # fmt: skip
    assert cloud.world.issuer.token_answers == [] and cloud.data_requests() == []
    assert page.url == cloud.url and page.evaluate(STORAGE) == {"local": {}, "session": {}}
    cloud.tab.shot("release-page-sign-in-denied")


def test_the_token_stays_in_this_tab_and_sign_out_forgets_it(cloud: Cloud) -> None:
    cloud.world.release("dev", "deploy", C, B, result=None)  # a deploy that died mid-way
    page = cloud.sign_in()
    assert page.locator(".history-table tbody tr td[data-label=Outcome]").first.inner_text() == (
        "started, no outcome"
    )
    page.reload()
    page.wait_for_selector(".history-table tbody tr")  # no second sign-in
    assert len(cloud.world.issuer.token_answers) == 1
    assert page.evaluate(STORAGE)["local"] == {}
    other = cloud.tab.context.new_page()  # another tab of the same browser: no session there
    other.goto(cloud.url)
    other.locator("#sign-in").wait_for(state="visible")
    assert other.evaluate(STORAGE) == {"local": {}, "session": {}}
    other.close()
    page.click("#sign-out")
    page.locator("#sign-in").wait_for(state="visible")
    assert page.locator(".sign-in-message").inner_text().startswith("Signed out: this tab forgot")
    assert page.locator("#envs").inner_html() == "" and page.locator("#who-box").is_hidden()
    assert page.evaluate(STORAGE) == {"local": {}, "session": {}}
    cloud.tab.shot("release-page-signed-out")


def test_a_401_from_the_api_leads_back_to_sign_in(cloud: Cloud) -> None:
    ecs = cloud.world.ecs
    td = ecs.register_task_definition(family="web-dev", containerDefinitions=[
        {"name": "web", "image": "x", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
    # a rollout in progress (moto starts no task): the page reads the deployment every 300 ms
    ecs.create_service(cluster="web-dev", serviceName="web-dev", taskDefinition=td, desiredCount=2)
    page = cloud.sign_in()
    page.wait_for_selector(".stages li[data-stage=ROLLOUT]")
    # The API stops accepting the token (in life: it expired); the next poll finds out.
    cloud.gateway.env["DEPLIGHT_JWT_AUDIENCES"] = "api://another-audience"
    before = len(cloud.gateway.requests)
    message = page.locator(".sign-in-message.error")
    message.wait_for(state="visible")
    assert message.inner_text() == (
        "The release API refused your sign-in (401: Unauthorized): it has expired or is no "
        "longer valid. Sign in again."
    )
    assert [r.path for r in cloud.gateway.requests[before:]] == ["/deployment?stack=dev"]
    assert page.locator("#envs").inner_html() == ""
    assert page.evaluate(STORAGE) == {"local": {}, "session": {}}
    cloud.tab.shot("release-page-401")


def test_a_rollback_is_dispatched_and_followed_to_its_outcome(cloud: Cloud) -> None:
    page = cloud.sign_in()
    page.click(".rollback-button")
    assert page.locator(".rb-target").input_value() == A
    page.fill(".rb-reason", "5xx after B")
    page.click(".rb-go")
    # (no wait_for_function: the page's CSP forbids the string evaluation it uses)
    page.locator(".rb-status", has_text=f"dispatched: rollback of dev to {A} through "
                 "rollback.yml").wait_for()  # fmt: skip
    [dispatch] = cloud.world.github.dispatches()
    request_id = dispatch.body["inputs"]["request_id"]
    assert dispatch.body["inputs"]["to"] == A
    assert dispatch.body["inputs"]["reason"] == "5xx after B [requested by alice@example.com]"
    # The workflow's `deplight rollback --request-id` records its outcome in the audit table.
    started = datetime.now(UTC)
    DynamoAudit(cloud.world.ddb, "web-dev-releases", "dev").complete(
        new_handle("dev", "rollback", started),
        {"operation": "rollback", "who": "github-actions", "trigger": "ci",
         "started_at": stamp(started), "from_tag": B, "to_tag": A, "reason": "5xx after B",
         "request_id": request_id, "result": "succeeded"},
    )  # fmt: skip
    status = page.locator(".rb-status.outcome")
    status.wait_for()
    assert status.inner_text().startswith(f"succeeded: rollback of dev to {A} through "
                                          f"rollback.yml (request {request_id})")  # fmt: skip
    assert page.locator(".rb-cancel").inner_text() == "Close"
    page.wait_for_function("document.querySelectorAll('.history-table tbody tr').length === 4")
    assert "rollback request" in page.locator(".history-table").inner_text()
    cloud.tab.shot("release-page-rollback-followed")
