"""Tests of the Python client against a running extension.

Run by packages/extension/tests/integration/python-client.test.ts, which starts the real extension
(failure threshold 2, no cache) and passes its port in FLEET_BREAKER_TEST_PORT and its token in
FLEET_BREAKER_TEST_TOKEN. Standard library only: ``python3 -m unittest test_fleet_breaker_client``.
"""

import os
import socket
import unittest

from fleet_breaker_client import Admission, CircuitRejected, FleetBreakerClient

PORT = int(os.environ["FLEET_BREAKER_TEST_PORT"])
TOKEN = os.environ["FLEET_BREAKER_TEST_TOKEN"]


class Downstream503(Exception):
    pass


def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PermitFlow(unittest.TestCase):
    def setUp(self):
        self.client = FleetBreakerClient(port=PORT, token=TOKEN)

    def test_admits_and_settles_a_call(self):
        admission = self.client.admit("py-permit-ok", request_id="python-request")
        self.assertIsInstance(admission, Admission)
        self.assertTrue(admission.allowed)
        self.assertEqual(admission.state, "CLOSED")
        self.assertFalse(admission.is_probe)
        self.assertEqual(len(admission.permit), 22)
        self.client.success(admission)
        self.assertEqual(self.client.state("py-permit-ok")["state"], "CLOSED")

    def test_failures_open_the_circuit_and_rejections_carry_retry_after(self):
        for _ in range(2):
            with self.assertRaises(Downstream503):
                with self.client.permit("py-permit-fail"):
                    raise Downstream503()
        with self.assertRaises(CircuitRejected) as raised:
            self.client.call("py-permit-fail", lambda: "never called")
        self.assertEqual(raised.exception.state, "OPEN")
        self.assertEqual(raised.exception.reason, "open")
        self.assertGreater(raised.exception.retry_after_ms, 0)
        self.assertGreaterEqual(raised.exception.retry_after_seconds, 1)
        snapshot = self.client.state("py-permit-fail")
        self.assertEqual(snapshot["state"], "OPEN")
        self.assertEqual(snapshot["openCount"], 1)

    def test_an_error_the_caller_does_not_count_releases_the_permit(self):
        for _ in range(3):
            with self.assertRaises(KeyError):
                self.client.call("py-permit-release", lambda: {}["missing"], is_failure=lambda e: False)
        self.assertEqual(self.client.state("py-permit-release")["failures"], 0)
        self.assertEqual(self.client.call("py-permit-release", lambda: 7), 7)

    def test_a_wrong_token_fails_open(self):
        client = FleetBreakerClient(port=PORT, token="not-the-right-token-at-all")
        admission = client.admit("py-token")
        self.assertTrue(admission.allowed)
        self.assertTrue(admission.failed_open)


class CompatibleFlow(unittest.TestCase):
    def setUp(self):
        self.client = FleetBreakerClient(port=PORT, token=TOKEN)

    def test_check_report_and_refusal(self):
        self.assertEqual(self.client.check("py-compat"), {"allowed": True, "state": "CLOSED"})
        self.client.record_failure("py-compat")
        self.assertTrue(self.client.check("py-compat")["allowed"])
        self.client.record_failure("py-compat")
        refused = self.client.check("py-compat")
        self.assertFalse(refused["allowed"])
        self.assertEqual(refused["state"], "OPEN")


class FailOpen(unittest.TestCase):
    def test_an_unreachable_extension_allows_every_call(self):
        client = FleetBreakerClient(port=unused_port(), timeout=0.5)
        self.assertTrue(client.check("anything")["allowed"])
        admission = client.admit("anything")
        self.assertTrue(admission.allowed)
        self.assertTrue(admission.failed_open)
        self.assertIsNone(admission.permit)
        client.success(admission)
        client.record_failure("anything")
        self.assertEqual(client.call("anything", lambda: "through"), "through")
        self.assertIsNone(client.state("anything"))


if __name__ == "__main__":
    unittest.main()
