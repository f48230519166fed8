"""EWS with OAuth 2.0 (client credentials): exchangelib's OAuth2 credentials get a token from
the token endpoint (the Graph test server's stand-in for Entra ID) and the EWS test server
accepts it; a Graph token or a wrong secret does not get in, and says why."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import AuthError, NewItem
from connectors.exchange.oauth import EXCHANGE_ONLINE, resource_of
from tests.connectors.graph_fixtures import CLIENT_ID, SECRET, TENANT


@pytest.fixture
def oauth_ews(ews, graph):
    """The EWS test server trusting the tokens of the Graph test server's directory."""
    ews.bearer = graph.directory.signer
    yield ews
    ews.bearer = None


def _app(graph, **kw):
    return (
        dict(
            auth_type="oauth2",
            username="",
            password="",
            tenant_id=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            login_url=graph.url,
        )
        | kw
    )


def test_an_app_token_opens_any_mailbox_by_impersonation(
    oauth_ews, graph, new_mailbox, make_connector
):
    mailbox = new_mailbox()
    connector = make_connector(mailbox, **_app(graph))
    (made,) = connector.create_items("contacts", [NewItem("crm-1", {"first_name": "Ann"})])
    assert made.ok, made.message
    (page,) = connector.list_changes("contacts", None)
    assert [i.crm_id for i in page.created] == ["crm-1"]
    assert graph.count("token") >= 1
    assert oauth_ews.store.mailbox(mailbox) is not None
    connector.close()


def test_a_wrong_secret_is_refused_with_the_identity_platforms_words(
    oauth_ews, graph, new_mailbox, make_connector
):
    connector = make_connector(new_mailbox(), **_app(graph, client_secret="wrong"))
    with pytest.raises(AuthError) as refused:
        connector.find_by_crm_ids("contacts", ["x"])
    assert "refused the app's token request" in str(refused.value)
    assert "Invalid client secret" in str(refused.value)


def test_a_graph_token_is_no_key_to_ews(oauth_ews, graph, new_mailbox):
    token = httpx.post(
        f"{graph.url}/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json()["access_token"]
    answer = httpx.post(
        oauth_ews.url, content=b"<x/>", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401


def test_the_token_is_for_the_ews_servers_resource():
    assert resource_of("https://outlook.office365.com/EWS/Exchange.asmx") == EXCHANGE_ONLINE
    assert resource_of("https://mail.contoso.com/EWS/Exchange.asmx") == "https://mail.contoso.com"
