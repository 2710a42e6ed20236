"""Large records over HTTP: pages bounded in bytes, the export streamed page by page."""

import asyncio
import json

from nats.aio.client import Client as NatsClient

from sigil_cli.tokens import issue_token
from sigil_shared import subjects
from tests.helpers import NatsFixture
from tests.integration.stack import running_stack

SECRET = "http-export-canary-31"
NOW = "2026-12-01T12:00:00+00:00"


async def test_page_and_export_of_1_mib_records(
    nats_server: NatsFixture, platform_nc: NatsClient, unique: str
) -> None:
    org = f"http-{unique}"
    key = nats_server.data.jwt_key_file.read_text().strip()
    headers = {"Authorization": f"Bearer {issue_token(key, org=org, role='admin')}"}
    async with running_stack(nats_server, services=("secrets", "redactor")) as stack:
        created = await stack.http.post(
            "/api/v1/secrets", headers=headers, json={"key": "K", "value": SECRET}
        )
        assert created.status_code == 201
        js = platform_nc.jetstream()
        bodies = [f"{n} " + "w" * (900 * 1000) + f" {SECRET}" for n in range(5)]
        bodies += [f"small {n} {SECRET}" for n in range(5, 8)]
        for body in bodies:
            await js.publish(
                subjects.logs_raw(org, "app"), json.dumps({"timestamp": NOW, "body": body}).encode()
            )
        url = "/api/v1/deployments/app/logs"
        for _ in range(200):
            page = await stack.http.get(url, headers=headers, params={"limit": 1000})
            if (
                page.status_code == 200
                and page.json()["items"][-1:]
                and page.json()["items"][-1]["record"]["body"].startswith("small 7")
            ):
                break
            await asyncio.sleep(0.05)
        assert page.status_code == 200
        assert page.json()["more"] is True  # 8 records do not fit one bus message
        assert len(page.json()["items"]) < 8
        export = await stack.http.get(f"{url}/export", headers=headers)
    assert export.status_code == 200
    lines = export.text.splitlines()
    # 4.5 MiB for one deployment in one fetch is stored in parts that may land in any order
    # (README, "Log redactor"); every record is there once, masked, cut only after masking.
    assert sorted(line.split(" ")[1] for line in lines) == sorted(
        [str(n) for n in range(5)] + ["small"] * 3
    )
    assert SECRET not in export.text
    assert SECRET not in page.text
    assert export.text.count("********") == 8
