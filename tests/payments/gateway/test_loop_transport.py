"""The event-loop HTTP pool: keep-alive, answer framing, timeouts, a server that goes away."""

import asyncio

import pytest

from payments.gateway.wechatpay.loop_transport import ConnectFailed, LoopHttpPool, NoAnswer
from tests.conftest import free_port


class Server:
    """A raw HTTP/1.1 server on the test's loop, answering every request with `reply(body)`."""

    def __init__(self, reply):
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/base"
        return self

    async def __aexit__(self, *exc):
        for writer in self.writers:
            writer.close()
        self.server.close()

    async def handle(self, reader, writer):
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                self.requests.append(head.split(b"\r\n")[0] + b" " + body)
                answer = await self.reply(body)
                if answer is None:
                    writer.close()
                    return
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def fixed(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d OK\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


def run(coroutine):
    return asyncio.run(coroutine)


def test_connections_are_kept_alive_and_reused():
    async def scenario():
        async def echo(body):
            return fixed(200, b"<xml>" + body + b"</xml>")

        async with Server(echo) as server:
            pool = LoopHttpPool(server.url)
            first = await pool.post("/pay/micropay", b"one", {"Content-Type": "text/xml"})
            second = await pool.post("/pay/orderquery", b"two")
            pool.close()
            return first, second, server

    first, second, server = run(scenario())
    assert (first.status_code, first.content) == (200, b"<xml>one</xml>")
    assert second.content == b"<xml>two</xml>"
    assert server.connections == 1
    assert server.requests == [b"POST /base/pay/micropay HTTP/1.1 one",
                               b"POST /base/pay/orderquery HTTP/1.1 two"]  # fmt: skip


def test_chunked_and_connection_delimited_answers_are_read_whole():
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<xml>\r\n6\r\n</xml>\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<xml>till the end</xml>",
    ]

    async def scenario():
        async def scripted(_body):
            return answers.pop(0)

        async with Server(scripted) as server:
            pool = LoopHttpPool(server.url)
            chunked = await pool.post("/a", b"x")
            # No length: this answer ends when the server closes the connection.
            delimited = await pool.post("/b", b"y")
            return chunked, delimited

    chunked, delimited = run(scenario())
    assert chunked.content == b"<xml></xml>"
    assert delimited.content == b"<xml>till the end</xml>"


def test_a_connection_the_server_closed_is_replaced():
    async def scenario():
        async def answer_then_hang_up(body):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

        async with Server(answer_then_hang_up) as server:
            pool = LoopHttpPool(server.url)
            answers = [await pool.post("/a", b"1"), await pool.post("/a", b"2")]
            return answers, server.connections

    answers, connections = run(scenario())
    assert [a.content for a in answers] == [b"ok", b"ok"] and connections == 2


def test_no_answer_in_time_and_a_dropped_request_are_noanswer():
    async def scenario(reply):
        async with Server(reply) as server:
            pool = LoopHttpPool(server.url, read_timeout=0.2)
            await pool.post("/a", b"1")

    async def never(_body):
        await asyncio.sleep(5)

    async def hang_up(_body):
        return None

    for reply in (never, hang_up):
        with pytest.raises(NoAnswer):
            run(scenario(reply))


def test_nobody_listening_is_connectfailed():
    async def scenario():
        await LoopHttpPool(f"http://127.0.0.1:{free_port()}", connect_timeout=1).post("/a", b"1")

    with pytest.raises(ConnectFailed):
        run(scenario())


def test_a_connection_that_timed_out_is_never_reused():
    """Its late answer must not be read as the next request's."""

    async def scenario():
        async def slow_then_fast(body):
            if body == b"slow":
                await asyncio.sleep(0.4)
            return fixed(200, b"answer to " + body)

        async with Server(slow_then_fast) as server:
            pool = LoopHttpPool(server.url, read_timeout=0.2, max_connections=1)
            with pytest.raises(NoAnswer):
                await pool.post("/a", b"slow")
            await asyncio.sleep(0.3)  # the late answer arrives meanwhile
            return await pool.post("/a", b"fast"), server.connections

    answer, connections = run(scenario())
    assert answer.content == b"answer to fast" and connections == 2


def test_failed_requests_give_their_slot_back():
    async def scenario():
        async def hang_up_once(body):
            return None if body == b"drop" else fixed(200, b"ok")

        async with Server(hang_up_once) as server:
            pool = LoopHttpPool(server.url, max_connections=1, connect_timeout=0.5)
            with pytest.raises(NoAnswer):
                await pool.post("/a", b"drop")
            refused = LoopHttpPool(f"http://127.0.0.1:{free_port()}", max_connections=1)
            for _ in range(2):
                with pytest.raises(ConnectFailed):
                    await refused.post("/a", b"x")
            return await pool.post("/a", b"again")

    assert run(scenario()).content == b"ok"


def test_connections_idle_past_the_keepalive_expiry_are_not_reused():
    async def scenario():
        async def ok(_body):
            return fixed(200, b"ok")

        async with Server(ok) as server:
            pool = LoopHttpPool(server.url, keepalive_expiry=0.1)
            await pool.post("/a", b"1")
            await asyncio.sleep(0.2)
            await pool.post("/a", b"2")
            return server.connections

    assert run(scenario()) == 2
