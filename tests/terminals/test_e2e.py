"""The simulator's devices against a real uvicorn process: activation, check-in, commands."""

import asyncio
import random

import pytest

from terminals.models import CommandState, Presence, Terminal, TerminalCommand
from terminals.services import commands
from terminals.services.presence import presence_flush
from terminals.simulator import DeviceProfile, SimDevice, Stats, activate
from tests.conftest import wait_until
from tests.terminals.factories import SYSTEM, assigned
from tests.terminals.test_consumer import run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_simulated_fleet_activates_checks_in_and_acks_a_display_command(world, asgi_server):
    codes = [assigned(world.a if n % 2 else world.b) for n in range(6)]
    ws_url = asgi_server.replace("http://", "ws://") + "/ws/terminal/"
    stats = Stats()
    stop = asyncio.Event()
    devices: list[SimDevice] = []

    async def start():
        for n, (terminal, code) in enumerate(codes):
            secret = await activate(asgi_server, terminal.serial, code)
            profile = DeviceProfile(
                terminal.serial,
                secret,
                firmware=("1.3.2", "1.4.0")[n % 2],
                link=("usb", "otg", "bluetooth")[n % 3],
            )
            devices.append(
                SimDevice(ws_url, profile, stats=stats, heartbeat=0.5, rng=random.Random(n))
            )
        tasks = [asyncio.create_task(device.run(stop)) for device in devices]
        await asyncio.wait_for(asyncio.gather(*(d.welcomed.wait() for d in devices)), 30)
        return tasks

    async def scenario():
        tasks = await start()
        # Heartbeats flow: wait until each device has had two round trips.
        while stats.heartbeats < 2 * len(devices):
            await asyncio.sleep(0.05)
        await asyncio.to_thread(_check_presence_and_command)
        stop.set()
        for device in devices:
            await device.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _check_presence_and_command():
        from django.db import connections

        try:
            wait_until(
                lambda: (
                    presence_flush() >= 0
                    and Terminal.objects.filter(presence=Presence.ONLINE).count() == len(codes)
                ),
                what="all devices online",
            )
            fleet = Terminal.objects.filter(presence=Presence.ONLINE)
            assert set(fleet.values_list("firmware_version", flat=True)) == {"1.3.2", "1.4.0"}
            target = codes[0][0]
            command = commands.command_send(
                terminal_id=target.pk,
                kind="display",
                actor=SYSTEM,
                payload={"text": "请付款", "amount_fen": 880},
            )

            def acked():
                command.refresh_from_db()
                return command.state == CommandState.ACKED

            wait_until(acked, what="the display command to be acked")
        finally:
            connections.close_all()

    run(scenario)
    assert stats.refused == {}
    assert stats.commands == 1 and stats.rtts
    assert TerminalCommand.objects.get().attempts == 1
