"""The baseline for the gateway benchmark: a FastAPI hello-world served by uvicorn."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    """The cheapest possible JSON answer."""
    return {"hello": "world"}


@app.post("/hello")
async def hello_post(body: dict[str, str]) -> dict[str, str]:
    """Echo-free POST of a small JSON body."""
    return {"keys": ",".join(body)}
