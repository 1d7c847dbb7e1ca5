"""Finnish Business IDs (Y-tunnus): one check, one canonical form, fixed reasons. Pure.

Every source that carries a Business ID — operator and licensed network lists,
Leadfeeder-style exports, form submissions, the register's bulk file — reads it
through :func:`business_id`. A Business ID is a merge key (two records with the
same one are one organisation), so one that fails its check digit is never
kept: the row is rejected, or kept without it, with one of the reasons below.
Reasons are fixed texts and never quote the value (a sole trader's Business ID
names a person).
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fi import ytunnus

#: The reasons a Business ID is refused (reject reasons: fixed texts, never the value).
WRONG_CHECK_DIGIT = "invalid Business ID: wrong check digit"
NOT_A_BUSINESS_ID = "invalid Business ID: not of the form 1234567-8"


class InvalidBusinessId(ValueError):
    """A Business ID that is not one; the message is the fixed reason."""


def business_id(value: object) -> str | None:
    """The Business ID in its one form (``1234567-8``), or None when there is none.

    Accepts the forms people write: ``1234567-8``, ``12345678``, ``FI12345678``
    (the VAT number), with spaces; and a spreadsheet's number (its leading zero lost).

    Raises:
        InvalidBusinessId: text that is not a Business ID, or whose check digit is wrong.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidBusinessId(NOT_A_BUSINESS_ID)
    text = str(value).zfill(8) if isinstance(value, int) else value.strip()
    if not text:
        return None
    try:
        return ytunnus.format(ytunnus.validate(text))
    except InvalidChecksum:
        raise InvalidBusinessId(WRONG_CHECK_DIGIT) from None
    except ValidationError:
        raise InvalidBusinessId(NOT_A_BUSINESS_ID) from None


def is_business_id(value: object) -> bool:
    """Whether ``value`` is a valid Business ID (empty is not)."""
    try:
        return business_id(value) is not None
    except InvalidBusinessId:
        return False


def valid_or_none(value: object) -> str | None:
    """The Business ID in its one form, or None when ``value`` is empty or not a valid one."""
    try:
        return business_id(value)
    except InvalidBusinessId:
        return None
