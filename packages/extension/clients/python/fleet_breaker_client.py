"""A client of the fleet-breaker Lambda extension, for Python functions.

One file, standard library only: copy it into your function (or a layer). It talks to the
extension on 127.0.0.1 and fails open, as the breaker does: if the extension cannot be reached or
answers with an error, the call is allowed and there is nothing to settle.

The permit flow (keeps every fleet guarantee)::

    from fleet_breaker_client import FleetBreakerClient, CircuitRejected

    breaker = FleetBreakerClient()

    def handler(event, context):
        try:
            with breaker.permit("payment-api", request_id=context.aws_request_id):
                return call_payment_api(event)
        except CircuitRejected as rejected:
            return {"statusCode": 503, "headers": {"Retry-After": str(rejected.retry_after_seconds)}}

The circuitbreaker-lambda compatible flow::

    if breaker.check("payment-api")["allowed"]:
        try:
            result = call_payment_api(event)
            breaker.record_success("payment-api")
        except Exception:
            breaker.record_failure("payment-api")
            raise
"""

import http.client
import json
import math
import os
import socket
import threading
from contextlib import contextmanager
from urllib.parse import quote

__all__ = ["FleetBreakerClient", "CircuitRejected", "Admission"]

_TOKEN_HEADER = "X-Fleet-Breaker-Token"
_REQUEST_ID_HEADER = "Lambda-Runtime-Aws-Request-Id"


class CircuitRejected(Exception):
    """Raised by :meth:`FleetBreakerClient.call` and :meth:`FleetBreakerClient.permit` when the
    circuit refuses the call."""

    def __init__(self, circuit_id, state, retry_after_ms, reason):
        super().__init__(
            "Circuit %r is %s (%s); retry after %d ms" % (circuit_id, state, reason or "refused", retry_after_ms)
        )
        self.circuit_id = circuit_id
        self.state = state
        self.retry_after_ms = retry_after_ms
        self.reason = reason

    @property
    def retry_after_seconds(self):
        """Whole seconds until a call may be admitted again, for a ``Retry-After`` header."""
        return max(1, math.ceil(self.retry_after_ms / 1000))


class Admission:
    """The extension's answer to "may I call?" (the permit API)."""

    __slots__ = ("allowed", "state", "permit", "is_probe", "retry_after_ms", "reason", "failed_open")

    def __init__(self, answer, failed_open=False):
        self.allowed = bool(answer.get("allowed", True))
        self.state = answer.get("state", "CLOSED")
        permit = answer.get("permit")
        self.permit = permit if isinstance(permit, str) else None
        self.is_probe = bool(answer.get("isProbe", False))
        self.retry_after_ms = _milliseconds(answer.get("retryAfterMs"))
        self.reason = answer.get("reason")
        self.failed_open = failed_open

    def __repr__(self):
        return "Admission(allowed=%r, state=%r, is_probe=%r, retry_after_ms=%r, reason=%r, failed_open=%r)" % (
            self.allowed,
            self.state,
            self.is_probe,
            self.retry_after_ms,
            self.reason,
            self.failed_open,
        )


class FleetBreakerClient:
    """Talks to the fleet-breaker extension on loopback.

    :param port: the extension's port; default ``CIRCUIT_BREAKER_EXTENSION_PORT`` or 4243.
    :param token: the shared secret; default ``CIRCUIT_BREAKER_EXTENSION_TOKEN``, if set.
    :param timeout: seconds to wait for the extension (default 1.5; the store's own deadline is 0.5).
    """

    def __init__(self, port=None, token=None, timeout=1.5, host="127.0.0.1"):
        self.host = host
        self.port = int(port or os.environ.get("CIRCUIT_BREAKER_EXTENSION_PORT") or 4243)
        self.token = token if token is not None else (os.environ.get("CIRCUIT_BREAKER_EXTENSION_TOKEN") or None)
        self.timeout = timeout

    # ---- the permit API ------------------------------------------------------------------------

    def admit(self, circuit_id, request_id=None):
        """Asks whether a call may be made. Settle an allowed call's permit exactly once."""
        answer = self._request("POST", "/circuit/%s/admit" % quote(circuit_id, safe=""), request_id)
        if answer is None or not isinstance(answer.get("allowed"), bool):
            return Admission({}, failed_open=True)
        return Admission(answer)

    def success(self, admission):
        """Records that the admitted call succeeded."""
        self._settle(admission, "success")

    def failure(self, admission):
        """Records that the admitted call failed in a way that says the downstream is unhealthy."""
        self._settle(admission, "failure")

    def release(self, admission):
        """Gives the permit back without counting anything (the call was not made, or failed for
        a reason that says nothing about the downstream)."""
        self._settle(admission, "release")

    @contextmanager
    def permit(self, circuit_id, request_id=None, is_failure=None):
        """Admits a call for the ``with`` block: a success when the block ends, a failure when it
        raises (and ``is_failure(error)``, default always, agrees; a release otherwise). Raises
        :class:`CircuitRejected` when the circuit refuses."""
        admission = self.admit(circuit_id, request_id)
        if not admission.allowed:
            raise CircuitRejected(circuit_id, admission.state, admission.retry_after_ms, admission.reason)
        try:
            yield admission
        except BaseException as error:
            counts = is_failure(error) if is_failure is not None else isinstance(error, Exception)
            (self.failure if counts else self.release)(admission)
            raise
        self.success(admission)

    def call(self, circuit_id, fn, request_id=None, is_failure=None):
        """Calls ``fn()`` through the circuit and returns its value (see :meth:`permit`)."""
        with self.permit(circuit_id, request_id, is_failure):
            return fn()

    def state(self, circuit_id):
        """The circuit's snapshot as a dict, or ``None`` when the extension cannot be asked."""
        return self._request("GET", "/circuit/%s/state" % quote(circuit_id, safe=""))

    # ---- the circuitbreaker-lambda compatible API ----------------------------------------------------

    def check(self, circuit_id, request_id=None):
        """``GET /circuit/{id}``: ``{"allowed": bool, "state": ...}``. Report the call's outcome
        with :meth:`record_success` or :meth:`record_failure`."""
        answer = self._request("GET", "/circuit/%s" % quote(circuit_id, safe=""), request_id)
        if answer is None or not isinstance(answer.get("allowed"), bool):
            return {"allowed": True, "state": "CLOSED", "failedOpen": True}
        return answer

    def record_success(self, circuit_id):
        """``POST /circuit/{id}/success``."""
        self._request("POST", "/circuit/%s/success" % quote(circuit_id, safe=""))

    def record_failure(self, circuit_id):
        """``POST /circuit/{id}/failure``."""
        self._request("POST", "/circuit/%s/failure" % quote(circuit_id, safe=""))

    # ---- transport -------------------------------------------------------------------------------

    def _settle(self, admission, outcome):
        permit = admission.permit if isinstance(admission, Admission) else admission
        if permit:
            self._request("POST", "/permits/%s/%s" % (quote(permit, safe=""), outcome))

    def _request(self, method, path, request_id=None):
        """The answer's JSON object, or None on any failure (the caller fails open). A plain
        connection, never a proxy from HTTP_PROXY: the extension is on this machine."""
        headers = {"Content-Length": "0"} if method == "POST" else {}
        if self.token:
            headers[_TOKEN_HEADER] = self.token
        if request_id:
            headers[_REQUEST_ID_HEADER] = request_id
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        # The socket timeout bounds each read, not the whole answer: an answer trickled a byte at
        # a time would never end. The watchdog cuts the connection when the timeout is spent.
        watchdog = threading.Timer(self.timeout, _cut, (connection,))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            body = response.read(_MAX_ANSWER_BYTES + 1)
            if response.status != 200 or len(body) > _MAX_ANSWER_BYTES:
                return None
            answer = json.loads(body.decode("utf-8"))
            return answer if isinstance(answer, dict) else None
        except Exception:
            # Anything at all (a reset, garbage, JSON nested too deep to parse): fail open.
            return None
        finally:
            watchdog.cancel()
            connection.close()


_MAX_ANSWER_BYTES = 65536


def _cut(connection):
    """Ends a connection whose answer took longer than the client's timeout."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _milliseconds(value):
    """A non-negative whole number of milliseconds, or 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value <= 0:
        return 0
    return int(min(value, 2**53))
