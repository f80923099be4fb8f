"""The example's handler against the real extension and a local stock service that fails on demand.

Run by packages/extension/tests/integration/python-client.test.ts (FLEET_BREAKER_TEST_PORT, the
extension's port, with a failure threshold of 2): ``python3 -m unittest test_handler``.
"""

import json
import os
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StockService(BaseHTTPRequestHandler):
    status = 200
    calls = 0

    def do_GET(self):
        StockService.calls += 1
        body = json.dumps({"sku": self.path.rsplit("/", 1)[-1], "inStock": 3}).encode()
        self.send_response(StockService.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Context:
    aws_request_id = "example-request"


class HandlerThroughTheExtension(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), StockService)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        os.environ["DOWNSTREAM_URL"] = "http://127.0.0.1:%d/stock" % cls.server.server_address[1]
        os.environ["CIRCUIT_BREAKER_EXTENSION_PORT"] = os.environ["FLEET_BREAKER_TEST_PORT"]
        import handler

        cls.handler = handler

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def invoke(self, sku="A-1"):
        return self.handler.handler({"pathParameters": {"sku": sku}}, Context())

    def test_serves_then_stops_calling_a_failing_service(self):
        StockService.status = 200
        self.assertEqual(self.invoke()["statusCode"], 200)
        StockService.status = 404
        self.assertEqual(self.invoke()["statusCode"], 404)  # not counted
        StockService.status = 503
        self.assertEqual(self.invoke()["statusCode"], 502)
        self.assertEqual(self.invoke()["statusCode"], 502)
        calls = StockService.calls
        rejected = self.invoke()
        self.assertEqual(rejected["statusCode"], 503)
        self.assertGreaterEqual(int(rejected["headers"]["Retry-After"]), 1)
        self.assertEqual(StockService.calls, calls)  # the open circuit spared the service


if __name__ == "__main__":
    unittest.main()
