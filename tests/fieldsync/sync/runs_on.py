"""Which connectors a scenario runs on, and why: the rule in one place (docs/testing.md).

A scenario runs where what it proves could turn out differently, not on every connector by
habit. Each scenario taking the `mailbox` fixture says where it runs, with one of these:

- `connector_scenario`: it proves something a connector does: how an item holds a value, a
  category or an activity type, that a field the sync does not write stays as it is, how the
  change listing reports creates, edits and deletes, how a failed or refused write comes back,
  what a run costs in requests. In memory, on EWS (exchangelib against the EWS test server), on
  Radicale (the DAV connector) and on Graph.
- `dav_server_scenario`: it also depends on what a DAV *server* does (sync tokens and what a
  sync-collection report returns, ETags on a write that lost a race): the same and Xandikos.
  Elsewhere Xandikos would only repeat Radicale's run, as both go through the same DAV
  connector code.
- `engine_scenario`: it proves the engine's or the sync service's own logic (directions, field
  security, record access, policies, filters, dry run, Verify's explanations); a connector
  only carries values there. In memory and on EWS.
- `runs_on(...)`: a scenario only some connectors can hold (a server that normalizes a value,
  Outlook's own way of writing a value) names them and says why.

Every family of scenarios (a section of a module) keeps at least one connector scenario, so
each connector meets every family; and every scenario that synced ends with a Verify pass on
its connector (conftest.py), so Verify itself meets all of them.
"""

from __future__ import annotations

import pytest

EVERY = ("memory", "exchange", "dav", "xandikos", "graph")
CONNECTORS = ("memory", "exchange", "dav", "graph")
DAV_SERVERS = ("dav", "xandikos")
ENGINE = ("memory", "exchange")


def runs_on(*kinds: str) -> pytest.MarkDecorator:
    """The scenario runs once on each of these mailbox kinds (the `mailbox` fixture's)."""
    unknown = set(kinds) - set(EVERY)
    assert not unknown, f"no mailbox kind {unknown}: one of {EVERY}"
    return pytest.mark.parametrize("mailbox", kinds, indirect=True)


connector_scenario = runs_on(*CONNECTORS)
dav_server_scenario = runs_on(*EVERY)
engine_scenario = runs_on(*ENGINE)
