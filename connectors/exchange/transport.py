"""exchangelib plumbing for the Exchange connector: per-item error services, a retry policy that
fails fast on 401, and the translation of exchangelib errors into the connector's typed errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import requests
from exchangelib import errors as ews_errors
from exchangelib.protocol import FaultTolerance
from exchangelib.services import CreateItem, DeleteItem, GetItem, UpdateItem
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors

from ..base import AuthError, ConnectorError, ThrottledError, TransientError


# exchangelib raises most per-item errors out of the generator, losing the other items' results;
# these subclasses return every per-item error as a value instead.
class CreateItemPerItem(CreateItem):
    ERRORS_TO_CATCH_IN_RESPONSE = ews_errors.ResponseMessageError


class UpdateItemPerItem(UpdateItem):
    ERRORS_TO_CATCH_IN_RESPONSE = ews_errors.ResponseMessageError


class DeleteItemPerItem(DeleteItem):
    ERRORS_TO_CATCH_IN_RESPONSE = ews_errors.ResponseMessageError


class GetItemPerItem(GetItem):
    ERRORS_TO_CATCH_IN_RESPONSE = ews_errors.ResponseMessageError


class RetryPolicy(FaultTolerance):
    """Waits out throttling up to max_wait, but a refused password fails at once.

    exchangelib's FaultTolerance treats HTTP 401 as throttling and retries it for up to an hour.
    """

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise ews_errors.UnauthorizedError(f"Invalid credentials for {response.url}")
        super().raise_response_errors(response)


_TRANSIENT = (
    ews_errors.ErrorTimeoutExpired,
    ews_errors.ErrorInternalServerTransientError,
    ews_errors.ErrorInternalServerError,
    ews_errors.MalformedResponseError,
    requests.exceptions.RequestException,
    ConnectionError,
)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn exchangelib/requests exceptions into the connector's typed errors."""
    try:
        yield
    except ConnectorError:
        raise
    except oauth2_errors.OAuth2Error as e:
        # The token endpoint refused the app (Entra ID answers with an AADSTS code and words).
        raise AuthError(
            f"The identity platform refused the app's token request: {e.description or e.error}",
            "ErrorInvalidCredentials",
        ) from e
    except (ews_errors.UnauthorizedError, ews_errors.ErrorImpersonateUserDenied) as e:
        raise AuthError(str(e), type(e).__name__) from e
    except ews_errors.ErrorAccessDenied as e:
        raise AuthError(str(e), "ErrorAccessDenied") from e
    except ews_errors.RateLimitError as e:
        raise ThrottledError(str(e), "ErrorServerBusy", wait=getattr(e, "wait", None)) from e
    except ews_errors.ErrorServerBusy as e:
        raise ThrottledError(str(e), "ErrorServerBusy", wait=e.back_off) from e
    except _TRANSIENT as e:
        raise TransientError(str(e), type(e).__name__) from e
    except ews_errors.ResponseMessageError as e:
        # A named EWS response code (e.g. ErrorInvalidSyncStateData, ErrorSchemaValidation).
        raise ConnectorError(str(e), type(e).__name__) from e
    except (ews_errors.TransportError, requests.exceptions.RequestException, ConnectionError) as e:
        raise TransientError(str(e), type(e).__name__) from e


def error_code(exc: BaseException) -> str:
    return type(exc).__name__


def chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
