"""The kit's contract (``notigate.testing``), run against every installed platform and channel plugin:
the bundled ones run it in their own tests too, and any other plugin installed beside them is held
to it here."""

from __future__ import annotations

from typing import Any

from notigate.plugin.manager import load_plugins
from notigate.testing import ChannelContract, PlatformContract

ADDRESSES = {"webhook": "http://127.0.0.1:9/hooks", "email": "ops@example.com", "sms": "+6281200000001"}
"""An address each channel sends to; another channel gets ``"r"``."""


def _contracts() -> dict[str, type[Any]]:
    plugins = load_plugins()
    contracts: dict[str, type[Any]] = {}
    for info in plugins.infos:
        if info.kind not in ("platform", "channel"):
            continue
        for name in info.provides:
            base: type[Any] = PlatformContract if info.kind == "platform" else ChannelContract
            cls = plugins.platforms.get(name) if info.kind == "platform" else plugins.channels.get(name)
            contracts[f"Test{info.kind.title()}{name.title()}"] = type(
                f"Test{info.kind.title()}{name.title()}",
                (base,),
                {
                    "plugin_class": cls,
                    "entry_point": info.name,
                    "distribution": info.distribution,
                    "sample_address": ADDRESSES.get(name, "r"),
                },
            )
    return contracts


globals().update(_contracts())
