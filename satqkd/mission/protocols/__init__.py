"""QKD protocols of the mission stage, keyed by ``[mission] protocol``.

* ``decoy-bb84``: :class:`~satqkd.mission.protocols.decoy_bb84.DecoyBB84`;
* ``bbm92``, ``e91``: :class:`~satqkd.mission.protocols.entangled.Entangled`.

Each runs on a link (:mod:`satqkd.mission.links`); :func:`protocol_for` composes the
mission's protocol with its link. A new protocol is a :class:`Protocol` subclass added
to :data:`PROTOCOLS`.
"""

from __future__ import annotations

from satqkd import config
from satqkd.errors import InputError
from satqkd.mission.links import Link, link_for
from satqkd.mission.protocols.base import Protocol
from satqkd.mission.protocols.decoy_bb84 import DecoyBB84
from satqkd.mission.protocols.entangled import Entangled

__all__ = ["Protocol", "PROTOCOLS", "protocol_for", "DecoyBB84", "Entangled"]

#: ``[mission] protocol`` -> protocol class.
PROTOCOLS: dict[str, type[Protocol]] = {
    name: cls for cls in (DecoyBB84, Entangled) for name in cls.names}


def protocol_for(cfg: config.MissionConfig, link: Link | None = None) -> Protocol:
    """The mission's protocol on ``link`` (default: the mission's link)."""
    link = link if link is not None else link_for(cfg)
    cls = PROTOCOLS[cfg.mission.protocol]
    if link.direction not in cls.directions:
        raise InputError(f"mission.protocol: {cfg.mission.protocol!r} runs on "
                         f"{' or '.join(cls.directions)} links, not {link.direction!r}")
    return cls(link)
