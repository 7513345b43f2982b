import json
import pytest
from test_contract_rest import CASES, Case, exchange  # noqa
from contract import specs

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_dump(exchange, case):
    r = await case.prepare(exchange)
    resp = await exchange.call(case.method, r.path, params=r.params, body=r.body, signed=r.signed)
    with open("/tmp/bodies.txt","a") as f:
        f.write(f"== {case.id}\n{resp.text[:1500]}\n")
