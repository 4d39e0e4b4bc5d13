"""An in-memory stream pair with the asyncio stream API the driver uses."""

from protocol import aio


class Pipe:
    """One direction: ``write``/``drain`` on one end, ``read`` on the other."""

    def __init__(self):
        self.buf = bytearray()
        self.closed = False
        self.event = aio.Event()

    def write(self, data):
        self.buf.extend(data)
        self.event.set()

    async def drain(self):
        pass

    def close(self):
        self.closed = True
        self.event.set()

    async def read(self, n):
        while not self.buf and not self.closed:
            self.event.clear()
            await self.event.wait()
        data = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return data


async def serve(link, reader, writer, handler):
    """Run a ServerLink over the pipes, answering requests with ``handler``."""
    import protocol

    while True:
        data = await reader.read(256)
        if not data:
            return
        for event in link.receive_data(data):
            if isinstance(event, protocol.Request):
                writer.write(link.data_to_send())
                link.send_reply(await handler(event.fields))
        writer.write(link.data_to_send())
