"""SIP2 client for the library management system (LMS): the patron check behind the door.

The interface the controller uses:

    settings = Sip2Settings(host=..., port=..., institution_id=..., login_user=..., ...)
    pool = Sip2Pool(settings, size=2, heartbeat_interval=60.0)
    pool.start()                       # connects, logs in and sends SC status in the background
    reply = pool.check_patron(card, pin, timeout=2.0)   # PatronReply, or raises LmsUnavailable
    credentials_accepted(reply)        # True only for BL=Y and CQ=Y
    pool.close()

`check_patron` raises ValueError (nothing sent) for an empty card or PIN. `LmsUnavailable.reason`
is one of the REASON_* codes in errors.py. Everything else about admitting (status positions,
age from birth_date, patron_class, expiry) is the controller's eligibility rules.
"""

from drivers.sip2.codec import CARD_LOST_POSITION, STATUS_POSITIONS, PatronReply, credentials_accepted
from drivers.sip2.connection import Sip2Settings
from drivers.sip2.errors import LmsUnavailable
from drivers.sip2.pool import Sip2Pool

__all__ = [
    "CARD_LOST_POSITION",
    "STATUS_POSITIONS",
    "LmsUnavailable",
    "PatronReply",
    "Sip2Pool",
    "Sip2Settings",
    "credentials_accepted",
]
