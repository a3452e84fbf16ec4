"""The release page in a real browser: Debian's chromium (/usr/bin/chromium) driven by Playwright,
against ``deplight dashboard``'s server started in-process on 127.0.0.1 with the real adapter over
a fake ``pulumi.automation.Stack`` and AWS answered by moto (the Rig of the rollback scenarios).

Every request the page makes to anything but 127.0.0.1 is aborted and recorded; each test asserts
none was attempted. Each test saves a screenshot under tests/screenshots/ (not committed; the
README's come from here).

moto has no ECS ListServiceDeployments/DescribeServiceDeployments: in the running-deployment test
those two operations of the real boto3 client are answered through botocore's ``before-call``
hook (the mechanism ``Stubber`` uses) with responses shaped as in the ECS API reference, read
from a stage the test advances while the page polls (Stubber's fixed queue cannot follow a page
that polls on its own clock).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from components import contract as out
from deplight.dashboard import Backend, make_server
from tests.test_rollback_scenarios import A, B, Rig, two_releases
from tests.test_rollback_support import moto_client

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SHOTS = Path(__file__).parent / "screenshots"
ALARMS = ("web-dev-5xx", "web-dev-latency")
POLL = "300"
"""ms between the page's reads of a running deployment (?poll=)."""

# .ci/run installs chromium, so under CI its absence is a failure, not a skip.
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason="needs Debian's chromium package (apt-get install chromium)")  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (one per test module: the fixture below)."""
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


class Tab:
    """A browser context whose pages may only talk to 127.0.0.1 (any other request is aborted
    and recorded), with the first page's uncaught errors collected; :meth:`close` asserts there
    were none of either."""

    def __init__(self, browser: Any, *, mobile: bool = False) -> None:
        viewport = {"width": 390, "height": 844} if mobile else {"width": 1100, "height": 900}
        self.context = browser.new_context(viewport=viewport)
        self.blocked: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def _only_loopback(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "http://127.0.0.1/")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def stop(self) -> None:
        """Stops what the tab talked to (after the browser context closed)."""

    def close(self) -> None:
        self.context.close()
        self.stop()
        assert self.blocked == [], f"the page tried to leave 127.0.0.1: {self.blocked}"
        assert self.console_errors == []


class Site(Tab):
    """One dashboard server over one Rig, and a page that may only talk to it."""

    def __init__(self, browser: Any, rig: Rig, *, mobile: bool = False) -> None:
        self.rig = rig
        self.backend = Backend(rig.stack, rig.aws, options={"verify_timeout_s": 0}, env=rig.env)
        self.server = make_server(self.backend, 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        super().__init__(browser, mobile=mobile)

    def open(self) -> Any:
        self.page.goto(f"{self.url}/?stack=dev&poll={POLL}")
        self.page.wait_for_selector(".history-table tbody tr")
        return self.page

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for job in self.backend.jobs.values():
            if job.thread:
                job.thread.join(timeout=10)


def rig_with_alarms(endpoint: str, tmp_path: Path, **kw: Any) -> Rig:
    rig = Rig(endpoint, tmp_path, history=two_releases(), image_tag=B, **kw)
    cw = moto_client(endpoint, "cloudwatch")
    for name in ALARMS:
        cw.put_metric_alarm(AlarmName=name, MetricName="HTTPCode_Target_5XX_Count",
                            Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=5,
                            ComparisonOperator="GreaterThanThreshold")  # fmt: skip
    cw.set_alarm_state(AlarmName=ALARMS[0], StateValue="OK", StateReason="under threshold")
    cw.set_alarm_state(AlarmName=ALARMS[1], StateValue="ALARM", StateReason="p99 over 2 s")
    rig.fake.stack_outputs[out.ROLLBACK_ALARM_NAMES] = list(ALARMS)
    return rig


@pytest.fixture
def site(browser: Any, aws_endpoint: str, tmp_path: Path, request: Any) -> Iterator[Site]:
    tier = getattr(request, "param", "development")
    s = Site(browser, rig_with_alarms(aws_endpoint, tmp_path, tier=tier))
    yield s
    s.close()


def test_history_current_release_and_alarms_render(site: Site) -> None:
    page = site.open()
    rows = page.locator(".history-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td[data-label=Image]").inner_text() == B
    assert rows.nth(1).locator("td[data-label=Image]").inner_text() == A
    assert "succeeded" in rows.nth(1).locator("td[data-label=Outcome]").inner_text()
    assert "is-current" in (rows.nth(0).get_attribute("class") or "")
    facts = page.locator(".current-facts").inner_text()
    assert B in facts and "deploy" in facts
    assert page.locator(".tier-badge").inner_text() == "development"
    page.wait_for_selector(".alarm-list .state")
    alarms = page.locator(".alarm-list").inner_text()
    assert f"OK {ALARMS[0]}" in alarms and f"ALARM {ALARMS[1]}" in alarms
    assert "no deployment in progress" in page.locator(".deployment-body").inner_text()
    site.shot("release-page")


@pytest.mark.parametrize("site", ["production"], indirect=True)
def test_production_dialog_is_red_and_enabled_only_by_the_exact_text(site: Site) -> None:
    page = site.open()
    page.click(".rollback-button")
    dialog = page.locator("#rollback-dialog")
    assert "production" in (dialog.get_attribute("class") or "")
    assert page.locator(".rb-current").inner_text() == B
    assert page.locator(".rb-target").input_value() == A
    assert "released again" in page.locator(".rb-what").inner_text()
    # the text to type is the back end's (GET /stacks), the one rollback.checks accepts
    assert (
        page.locator(".rb-confirm-label").inner_text().startswith("Type ROLLBACK-PROD to confirm")
    )
    go = page.locator(".rb-go")
    page.fill(".rb-reason", "5xx after B")
    for almost in ("", "rollback-prod", "ROLLBACK-PRO", "ROLLBACK-PROD ", " ROLLBACK-PROD"):
        page.fill(".rb-confirm", almost)
        assert go.is_disabled(), almost
    page.fill(".rb-confirm", "ROLLBACK-PROD")
    assert go.is_enabled()
    page.fill(".rb-reason", "")
    assert go.is_disabled()  # the API needs a reason
    page.fill(".rb-reason", "5xx after B")
    site.shot("rollback-production-dialog")
    assert site.backend.rollback_posts == 0


def test_confirmed_rollback_posts_once_and_shows_the_outcome(site: Site) -> None:
    page = site.open()
    page.click(".rollback-button")
    assert "development" in (page.locator("#rollback-dialog").get_attribute("class") or "")
    assert page.locator(".rb-confirm-label").is_hidden()
    page.fill(".rb-reason", "5xx after B")
    page.dblclick(".rb-go")
    page.wait_for_selector(".rb-status.outcome")
    assert page.locator(".rb-status").inner_text().startswith("succeeded")
    assert site.backend.rollback_posts == 1 and site.backend.rollbacks_started == 1
    assert site.rig.tag == A
    [record] = site.rig.world.audit()
    assert record["operation"] == "rollback" and record["result"] == "succeeded"
    assert record["request_id"] == next(iter(site.backend.jobs))
    page.wait_for_function("document.querySelectorAll('.history-table tbody tr').length === 3")
    site.shot("rollback-done")
    page.click(".rb-cancel")
    assert A in page.locator(".current-facts").inner_text()


def test_an_api_error_shows_its_message(site: Site) -> None:
    page = site.open()
    page.click(".rollback-button")
    page.fill(".rb-reason", "5xx after B")
    # Between loading the page and the click, the stack became production: the API refuses a
    # rollback without the confirmation text.
    site.rig.fake.config["deplight:tier"] = "production"
    page.click(".rb-go")
    error = page.locator(".rb-error")
    error.wait_for(state="visible")
    assert "confirm: production stack dev needs exactly 'ROLLBACK-PROD', found None" in (
        error.inner_text()
    )
    assert page.locator(".rb-go").is_enabled()  # fix the cause, try again
    assert site.backend.rollback_posts == 1 and site.backend.rollbacks_started == 0
    assert site.rig.tag == B
    site.shot("rollback-api-error")


OK = AWSResponse("http://127.0.0.1/", 200, {}, None)
"""The HTTP response Stubber also hands botocore for an answered call."""


class ServiceDeployment:
    """ECS's answer for the service's deployment; ``stage=None`` once it has finished."""

    def __init__(self) -> None:
        self.stage: str | None = "SCALE_UP"
        self.weight = 0.0
        self.arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-dev/web-dev/abc123"

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        if model.name == "ListServiceDeployments":
            found = (
                [{"serviceDeploymentArn": self.arn, "status": "IN_PROGRESS"}] if self.stage else []
            )
            return OK, {"serviceDeployments": found}
        if model.name == "DescribeServiceDeployments":
            return OK, {"serviceDeployments": [{
                "serviceDeploymentArn": self.arn, "status": "IN_PROGRESS",
                "lifecycleStage": self.stage, "createdAt": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                "deploymentConfiguration": {"strategy": "BLUE_GREEN"},
                "targetServiceRevision": {"requestedProductionTrafficWeight": self.weight,
                                          "runningTaskCount": 2, "requestedTaskCount": 2},
            }]}  # fmt: skip
        return None


def test_a_running_deployments_stages_and_green_share_update(browser: Any, aws_endpoint: str,
                                                              tmp_path: Path) -> None:  # fmt: skip
    rig = rig_with_alarms(aws_endpoint, tmp_path)
    rig.fake.stack_outputs[out.DEPLOY_STRATEGY] = "ecs_bluegreen"
    ecs = ServiceDeployment()
    rig.aws.client("ecs").meta.events.register("before-call.ecs.*", ecs)
    site = Site(browser, rig, mobile=True)
    try:
        page = site.open()
        page.wait_for_selector(".stages li.current[data-stage=SCALE_UP]")
        assert page.locator(".green-share").inner_text() == "Traffic on green: 0%"
        assert page.locator(".stages li.done").count() == 2
        ecs.stage, ecs.weight = "PRODUCTION_TRAFFIC_SHIFT", 50.0
        page.wait_for_selector(".stages li.current[data-stage=PRODUCTION_TRAFFIC_SHIFT]")
        assert page.locator(".green-share").inner_text() == "Traffic on green: 50%"
        site.shot("deployment-running-mobile")
        page.click(".rollback-button")
        assert "stopped and traffic goes back to blue" in page.locator(".rb-what").inner_text()
        page.click(".rb-cancel")
        ecs.stage = None
        page.wait_for_selector(".no-deployment")
    finally:
        site.close()


def test_screenshots_for_the_readme_exist_after_a_run() -> None:
    """The README's screenshots are copies of what these tests save (refreshed by hand)."""
    docs = Path(__file__).parent.parent / "docs" / "screenshots"
    for name in ("release-page", "rollback-production-dialog", "deployment-running-mobile",
                 "release-page-sign-in"):  # fmt: skip
        assert (docs / f"{name}.png").stat().st_size > 1000, name
