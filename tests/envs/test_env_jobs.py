"""Jobs from inside a development environment (issue 17 item 4): a real `hpcai serve` as root, a
Web terminal of alice running as her Unix user (hpc-alice), its login shell typing `jsub` and
`jjobs`. The store is the portal's; the shell reaches the platform only through the portal's API
with the token the platform gave this start of the environment (cli/remote.py).
"""

from __future__ import annotations

import json
import re
import time
from typing import Iterator

import pytest
import requests
import websocket

from tests.envs.test_env_e2e import cookie_header, create, env_state, ws_url
from tests.svc.helpers import Portal, scratch, site_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    data = scratch("envs-jobs")
    p = Portal(data, env={"HPCAI_CONFIG": str(site_config(data, cpus=8))}).start()
    yield p
    for row in p.platform.environments.list("alice"):
        try:
            p.platform.environments.stop(row.id, "alice")
        except Exception as exc:  # best effort; the test already reported
            print(f"teardown: {exc}")
    p.stop()


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


class Shell:
    """The Web terminal's login shell over the proxied WebSocket."""

    def __init__(self, portal: Portal, s: requests.Session, alias: str):
        portal.open_service(s, alias)
        self.ws = websocket.create_connection(ws_url(portal, alias, "websocket"),
                                              header=[f"Cookie: {cookie_header(s)}"], timeout=60)
        self.seen = ""

    def run(self, line: str, answer: str, timeout: float = 90) -> re.Match[str]:
        """Type `line`; wait for the regex `answer` in what the shell prints after it."""
        start = len(self.seen)
        self.ws.send(json.dumps(["stdin", line + "\r"]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = json.loads(self.ws.recv())
            if m[0] == "stdout":
                self.seen += m[1]
                got = re.search(answer, self.seen[start:], re.S)
                if got:
                    return got
        raise AssertionError(f"no {answer!r} in: {self.seen[start:]}")

    def close(self) -> None:
        self.ws.close()


def api(portal: Portal, token: str, path: str) -> requests.Response:
    return requests.get(f"{portal.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_jsub_and_jjobs_in_a_web_terminal(portal: Portal, alice: requests.Session) -> None:
    v = create(portal, alice, {"type": "webterminal", "name": "jobs1"})
    view = env_state(portal, alice, v["id"], ("running",))
    assert not re.search(r"hpcai_[A-Za-z0-9_-]{20}", json.dumps(view))  # the token is in the env only, never in a view
    sh = Shell(portal, alice, view["alias"])
    got = sh.run('echo "TOKEN=$HPCAI_API_TOKEN URL=$HPCAI_PORTAL_URL JSUB=$(command -v jsub) END"',
                 r"TOKEN=(hpcai_\S+) URL=(http\S+) JSUB=(/\S*) END")
    token, url, jsub = got.groups()
    assert url == portal.url and jsub.endswith("/jsub"), got.group(0)  # on the login shell's PATH
    assert portal.platform.accounts.token_user(token).name == "alice"  # type: ignore[union-attr]

    # a #BSUB script, submitted from the shell: the job runs as hpc-alice and succeeds
    got = sh.run("printf '#BSUB -J envjob\\nid -un\\necho envjob-ran\\n' > envjob.sub; "
           'jsub envjob.sub; echo "JSUB_RC=$?."', r"(Job <(\d+)> is submitted.*?)?JSUB_RC=(\d+)\.")
    assert got.group(3) == "0" and got.group(2), got.group(0)
    sched_id = got.group(2)
    job = wait_for(lambda: next((j for j in api(portal, token, "/jobs?state=succeeded").json()["jobs"]
                                 if j["scheduler_job_id"] == sched_id), None), 120, "the job to succeed")
    assert job["user"] == "alice" and job["name"] == "envjob" and job["source"] == "jsub-api"
    log = api(portal, token, f"/jobs/{job['id']}/log").json()["text"]
    assert "hpc-alice" in log and "envjob-ran" in log, log

    got = sh.run('jjobs -a; echo "JJOBS_RC=$?."', r"(JOBID.*?)JJOBS_RC=(\d+)\.")
    assert got.group(2) == "0", got.group(0)
    assert re.search(rf"{sched_id}\s+alice\s+DONE\s+\S+.*envjob", got.group(1)), got.group(1)

    # hpcai's own commands too
    got = sh.run(f'hpcai show {job["id"]}; echo "SHOW_RC=$?."', r"(Job .*?)SHOW_RC=(\d+)\.")
    assert got.group(2) == "0" and "succeeded" in got.group(1), got.group(0)
    got = sh.run(f'hpcai logs -f {job["id"]}; echo "LOGS_RC=$?."', r"(envjob-ran.*?)LOGS_RC=(\d+)\.")
    assert got.group(2) == "0" and f"job {job['id']} succeeded" in got.group(1), got.group(0)
    got = sh.run('hpcai jobs --state succeeded,failed; echo "JOBS_RC=$?."', r"(ID\s+NAME.*?)JOBS_RC=(\d+)\.")
    assert got.group(2) == "0" and re.search(rf"\n{job['id']}\s+envjob\s+alice\s+succeeded", got.group(1)), got.group(0)
    got = sh.run('jkill 999999; echo "KILL_RC=$?."', r"(jkill: error:.*?)KILL_RC=(\d+)\.")
    assert got.group(2) == "2" and "999999" in got.group(1), got.group(0)

    # a bad #BSUB option: exit 2 naming it, before anything is sent
    got = sh.run("printf '#BSUB -R x\\ntrue\\n' > bad.sub; jsub bad.sub; echo \"BAD_RC=$?.\"",
                 r"(jsub: error:.*?)BAD_RC=(\d+)\.")
    assert got.group(2) == "2" and "'-R'" in got.group(1), got.group(0)
    # a mistake only the platform sees (an image not in the catalog): the API's field and fix, exit 2
    got = sh.run("printf '#BSUB -J x\\njairun djm command --job-type standalone --image nosuch:1 --cmd=true\\n'"
                 " > img.sub; jsub img.sub; echo \"IMG_RC=$?.\"", r"(jsub: error:.*?)IMG_RC=(\d+)\.")
    assert got.group(2) == "2" and "image: unknown image 'nosuch:1'" in got.group(1), got.group(0)
    sh.close()

    # another user's token does not see it
    bob_token = portal.platform.accounts.create_token("bob", "test")
    assert all(j["scheduler_job_id"] != sched_id for j in api(portal, bob_token, "/jobs?all=1").json()["jobs"])
    assert api(portal, bob_token, f"/jobs/{job['id']}").status_code == 404

    # stopped: the environment's token is refused
    r = alice.post(f"{portal.url}/api/v1/environments/{v['id']}/stop", timeout=60)
    assert r.status_code == 200, r.text
    assert api(portal, token, "/jobs").status_code == 401

    # each start makes a new token (the last one stays refused); stopping the environment's service
    # from My services revokes it too
    r = alice.post(f"{portal.url}/api/v1/environments/{v['id']}/start", timeout=60)
    assert r.status_code == 200, r.text
    view = env_state(portal, alice, v["id"], ("running",))
    sh = Shell(portal, alice, view["alias"])
    fresh = sh.run('echo "TOKEN=$HPCAI_API_TOKEN END"', r"TOKEN=(hpcai_\S+) END").group(1)
    sh.close()
    assert fresh != token and api(portal, fresh, "/me").status_code == 200
    assert api(portal, token, "/me").status_code == 401
    r = alice.post(f"{portal.url}/api/v1/services/{view['alias']}/stop", timeout=60)
    assert r.status_code == 200, r.text
    assert api(portal, fresh, "/me").status_code == 401
