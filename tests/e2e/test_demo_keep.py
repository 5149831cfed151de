"""`kubeloop demo --fast --keep` leaves the loop running: its closing links answer until `kubeloop down`.

(Without --keep, `test_demo.py` checks that everything is stopped and the closing text says so.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest

from kubeloop.local import processes
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _links(output: str) -> dict[str, list[str]]:
    """The closing section's places: name -> the http addresses on its line."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        name, _, rest = line.partition(": ")
        if name in ("predict", "metrics"):
            found[name] = re.findall(r"http://127\.0\.0\.1:\d+[^\s,]*", rest)
    return found


def test_the_kept_loop_answers_its_links_until_kubeloop_down(settings: Settings) -> None:
    env = {**os.environ, "COLUMNS": "1000"}  # one place per line, unwrapped
    done = subprocess.run([sys.executable, "-m", "kubeloop", "demo", "--fast", "--keep", "--no-ui"],
                          capture_output=True, text=True, timeout=1200, check=False, env=env,
                          stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    try:
        assert done.returncode == 0, output[-3000:]
        assert "the loop keeps running" in output and "kubeloop down" in output, output[-1500:]
        links = _links(output)
        (predict,) = links["predict"]
        answer = httpx.post(predict, json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=30)
        assert answer.status_code == 200 and answer.json()["predictions"], answer.text
        gateway = processes.gateway_record(settings)
        assert gateway is not None and predict.startswith(gateway.url)
        live = [url for url in links["metrics"] if url.startswith(gateway.url) or any(
            url.startswith(r.url) for r in processes.server_records(settings) if r.alive())]
        assert live and all(httpx.get(url, timeout=30).status_code == 200 for url in live), links
        status = json.loads(subprocess.run([sys.executable, "-m", "kubeloop", "status", "--json"],
                                           capture_output=True, text=True, timeout=300, check=True).stdout)
        assert status["supervisor"]["running"], status["supervisor"]
    finally:
        down = subprocess.run([sys.executable, "-m", "kubeloop", "down"], capture_output=True, text=True,
                              timeout=300, check=False)
    said = down.stdout + down.stderr
    assert down.returncode == 0 and "stopped the supervisor" in said and "stopped the gateway" in said, said
    assert processes.gateway_record(settings) is None
    assert not [r for r in processes.server_records(settings) if r.alive()]
    with pytest.raises(httpx.ConnectError):
        httpx.post(predict, json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10)
