"""A spin-sdk 3.4.1 app making outbound requests exactly as Spin apps do (issue 10):
`http.send` GET and POST, and `asyncio.gather` over two `send_async` calls (two requests in flight,
so spin-sdk's poll loop polls several pollables at once). `?t=URL` names the server to call."""

import asyncio
from urllib.parse import parse_qs, urlparse

from spin_sdk import http
from spin_sdk.http import Request, Response, poll_loop


def line(r: Response) -> str:
    return f"{r.status} {(r.body or b'').decode()}"


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        u = urlparse(request.uri)
        target = parse_qs(u.query)["t"][0]
        if u.path.endswith("/get"):
            out = line(http.send(Request("GET", f"{target}/get", {}, None)))
        elif u.path.endswith("/post"):
            out = line(http.send(Request("POST", f"{target}/post", {"content-type": "text/plain"}, b"spin body")))
        else:
            async def both() -> list[Response]:
                return await asyncio.gather(
                    http.send_async(Request("GET", f"{target}/one", {}, None)),
                    http.send_async(Request("POST", f"{target}/two", {}, b"second")))

            loop = poll_loop.PollLoop()
            asyncio.set_event_loop(loop)
            out = "\n".join(line(r) for r in loop.run_until_complete(both()))
        return Response(200, {"content-type": "text/plain"}, out.encode())
