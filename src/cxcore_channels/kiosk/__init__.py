"""The kiosk channel: surveys on a touch screen in the store, anonymous and offline-first.

Most kiosk answers need no invitation: a visitor walks up to the screen at the
store's exit and answers; the collector's kiosk page (``/kiosk/``) queues the
answer on the device and delivers it, anonymous, with the kiosk's store and
touchpoint (see :doc:`/channels/kiosk`). The channel is for the other case: a
survey handed to a customer-facing screen for one customer, such as the display
at a billing counter after a sale. It renders the invitation as JSON, posts it
to the screen's endpoint, and parses the answers the screen posts back with the
invitation's token.

.. code-block:: python

    channel = KioskChannel(
        base_url="https://cx.example.in/r",
        push_url="http://counter-3.blr-01.lan/cx/show",
    )
"""

from cxcore_channels.kiosk.channel import KioskChannel, KioskConfigError

__all__ = ["KioskChannel", "KioskConfigError"]
