"""A Python function protecting its downstream through the fleet-breaker Lambda extension.

The layer puts the extension in the execution environment and the client on ``sys.path``
(``/opt/python/fleet_breaker_client.py``). Every environment of the function, and every other
function using the same table and circuit id, shares one circuit: when the stock service fails,
the whole fleet stops calling it within a few failures, and one probe at a time tests its recovery.
"""

import json
import os
import urllib.error
import urllib.request

from fleet_breaker_client import CircuitRejected, FleetBreakerClient

CIRCUIT_ID = "stock-service"
DOWNSTREAM_URL = os.environ.get("DOWNSTREAM_URL", "https://inventory.example.com/stock")

# Module scope: one client per execution environment.
breaker = FleetBreakerClient()


class DownstreamUnavailable(Exception):
    """The stock service failed in a way that says it is unhealthy (5xx, timeout, refused)."""


def fetch_stock(sku):
    try:
        with urllib.request.urlopen("%s/%s" % (DOWNSTREAM_URL.rstrip("/"), sku), timeout=3) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            raise DownstreamUnavailable("stock service answered %d" % error.code) from error
        raise  # a 404 says nothing about the service's health
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise DownstreamUnavailable(str(error)) from error


def handler(event, context):
    sku = (event.get("pathParameters") or {}).get("sku", "unknown")
    try:
        # The permit is tied to this invocation; a failure is counted only for DownstreamUnavailable.
        with breaker.permit(
            CIRCUIT_ID,
            request_id=getattr(context, "aws_request_id", None),
            is_failure=lambda error: isinstance(error, DownstreamUnavailable),
        ):
            stock = fetch_stock(sku)
    except CircuitRejected as rejected:
        return {
            "statusCode": 503,
            "headers": {"Retry-After": str(rejected.retry_after_seconds)},
            "body": json.dumps({"error": "stock service unavailable", "circuit": rejected.state}),
        }
    except DownstreamUnavailable as error:
        return {"statusCode": 502, "body": json.dumps({"error": str(error)})}
    except urllib.error.HTTPError as error:
        return {"statusCode": error.code, "body": json.dumps({"error": "stock service answered %d" % error.code})}
    return {"statusCode": 200, "body": json.dumps(stock)}
