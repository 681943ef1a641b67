"""Run N simulated B1s terminals against a running platform, over real websockets.

    python manage.py simulate_terminals --url http://127.0.0.1:8000 --count 20 \
        --firmware 1.3.2:70,1.4.0:30 --links usb:50,otg:30,bluetooth:20 --heartbeat 30 \
        --disconnects-per-hour 2 --slow-acks 0.1 --lost-acks 0.05

Demo terminals (serials WST01-9000xxxx) are registered, allocated and assigned to the first
operating stores, activated over HTTP with their one-time codes, and their secrets kept in
var/simulator-secrets.json so a restart reconnects without re-activating.
"""

import asyncio
import random
import signal
import time

import httpx
from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from terminals import demo
from terminals.simulator import DeviceProfile, Flakiness, SimDevice, Stats, activate


def weighted(spec: str) -> list[tuple[str, float]]:
    """Parse "a:70,b:30" into [(a, 70), (b, 30)]."""
    pairs = []
    for part in spec.split(","):
        name, _, weight = part.partition(":")
        pairs.append((name.strip(), float(weight or 1)))
    return pairs


def pick(rng: random.Random, choices: list[tuple[str, float]]) -> str:
    names, weights = zip(*choices, strict=True)
    return rng.choices(names, weights)[0]


class Command(BaseCommand):
    help = "Run simulated B1s terminals (activation, check-in, heartbeats, acks) against a server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--count", type=int, default=10)
        parser.add_argument("--firmware", default="1.3.2:70,1.4.0:30")
        parser.add_argument("--links", default="usb:50,otg:30,bluetooth:20")
        parser.add_argument("--hosts", default="windows:50,linux:20,android:30")
        parser.add_argument(
            "--heartbeat",
            type=float,
            default=None,
            help="seconds between heartbeats (default: what welcome says)",
        )
        parser.add_argument("--disconnects-per-hour", type=float, default=0.0)
        parser.add_argument("--slow-acks", type=float, default=0.0)
        parser.add_argument("--lost-acks", type=float, default=0.0)
        parser.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until ^C")
        parser.add_argument("--seed", type=int, default=1)
        # Payments hook: the code a simulated cashier scans when a payment prompt shows.
        parser.add_argument(
            "--scan-code",
            default="134500000000000001",
            help="test payment code scanned at a prompt (docs/sandbox.md); '' off",
        )
        parser.add_argument("--scan-delay", type=float, default=1.5)

    def handle(self, *args, **options):
        profiles = self._profiles(options)
        if not profiles:
            raise CommandError("No terminal could be provisioned (quota exhausted?).")
        asyncio.run(self._run(profiles, options))

    def _profiles(self, options) -> list[tuple[DeviceProfile, str | None]]:
        rng = random.Random(options["seed"])
        firmware, links = weighted(options["firmware"]), weighted(options["links"])
        hosts = weighted(options["hosts"])
        out = []
        for terminal, secret, code in demo.provision(options["count"]):
            link = pick(rng, links)
            host = "android" if link in ("otg", "bluetooth") else pick(rng, hosts)
            profile = DeviceProfile(terminal.serial, secret or "", pick(rng, firmware), link, host)
            out.append((profile, code))
        return out

    async def _run(self, profiles, options) -> None:
        base = options["url"].rstrip("/")
        await self._wait_for_server(base)
        secrets = await sync_to_async(demo.load_secrets)()
        for profile, code in profiles:
            if code:
                profile.secret = await activate(base, profile.serial, code)
                secrets[profile.serial] = profile.secret
        await sync_to_async(demo.save_secrets)(secrets)
        stats, stop = Stats(), asyncio.Event()
        flaky = Flakiness(
            options["disconnects_per_hour"], options["slow_acks"], options["lost_acks"]
        )
        ws_url = base.replace("http", "ws", 1) + "/ws/terminal/"
        devices = [
            SimDevice(
                ws_url,
                profile,
                stats=stats,
                flakiness=flaky,
                heartbeat=options["heartbeat"],
                rng=random.Random(options["seed"] + n),
                scan_code=options["scan_code"] or None,
                scan_delay=options["scan_delay"],
            )
            for n, (profile, _) in enumerate(profiles)
        ]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if options["duration"]:
            loop.call_later(options["duration"], stop.set)
        tasks = [asyncio.create_task(device.run(stop)) for device in devices]
        self.stdout.write(f"simulating {len(devices)} terminals against {ws_url}")
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 10)
            except TimeoutError:
                self._report(stats, devices)
        for device in devices:
            await device.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._report(stats, devices)

    async def _wait_for_server(self, base: str) -> None:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1)
        raise CommandError(f"{base} did not answer /healthz")

    def _report(self, stats: Stats, devices) -> None:
        rtts = sorted(stats.rtts[-5000:])
        p50 = f"{rtts[len(rtts) // 2] * 1000:.1f} ms" if rtts else "-"
        online = sum(1 for d in devices if d.ws is not None and d.ws.state.name == "OPEN")
        self.stdout.write(
            f"online {online}/{len(devices)}  connects {stats.connects}  "
            f"heartbeats {stats.heartbeats} (p50 {p50})  commands {stats.commands} "
            f"(+{stats.duplicates} duplicates)  acks {stats.acks}  refused {stats.refused}"
        )
        self.stdout.flush()
