"""Given/When helpers for the label end-to-end tests: clients that know the truth.

`Clients` send iris rows through the gateway and remember, per `x-request-id`, the true species and
who answered; the demo's labeler (`kubeloop.demo.labeler.Labeler`) plays the labeling tool on their
truth: it works through the labeling queue and posts the true species to the gateway's label endpoint.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame


@dataclass(frozen=True)
class Answer:
    request_id: str
    species: str
    status: int
    version: str


class Background:
    """Runs `run()` in a thread for as long as the `with` block lasts; `run` returns once `stop` is set."""

    stop: threading.Event

    def __enter__(self) -> Any:
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=30)

    def run(self) -> None:
        raise NotImplementedError


@dataclass
class Clients(Background):
    """Steady requests of one iris row each; every answer is kept with the truth it should have given."""

    gateway: str
    rate: float = 25.0
    answers: list[Answer] = field(default_factory=list)

    def truth(self) -> dict[str, str]:
        """request id -> true species, for every request answered so far."""
        return {a.request_id: a.species for a in list(self.answers) if a.status == 200}

    def run(self) -> None:
        frame = iris_frame()
        rows = list(zip(frame[list(IRIS_COLUMNS)].to_dict("records"), frame["species"], strict=True))
        rng = random.Random(7)
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                row, species = rng.choice(rows)
                self.answers.append(send(client, f"{self.gateway}/v1/models/iris:predict", row, species))
                self.stop.wait(1 / self.rate)


def send(client: httpx.Client, url: str, row: dict[str, Any], species: str) -> Answer:
    try:
        response = client.post(url, json={"instances": [row]})
    except httpx.HTTPError:
        return Answer("", species, 599, "?")
    return Answer(response.headers.get("x-request-id", ""), species, response.status_code,
                  response.headers.get("x-kubeloop-version", "?"))


def wait_until(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
