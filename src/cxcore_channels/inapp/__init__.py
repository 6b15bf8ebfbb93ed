"""The in-app channel: a survey prompt inside your own web app, after something happened there.

One ``<script>`` tag, served by the collector, adds the widget to a page;
the widget asks the collector whether the user should see a survey now,
through the same distribution rules and fatigue caps as email and SMS, and
shows it in a shadow root. See :doc:`/channels/inapp`.

The channel itself renders prompts (:func:`prompt`) and, when the dispatcher
sends an in-app invitation, marks it ready for the widget (and may notify
your backend).

.. versionadded:: 0.1.0
"""

from cxcore_channels.inapp.channel import PROMPT_TYPE, InAppChannel, notify_signature
from cxcore_channels.inapp.prompt import PROMPT_VERSION, prompt, prompt_json
from cxcore_channels.inapp.strings import UI_STRINGS, ui_strings

__all__ = [
    "PROMPT_TYPE",
    "PROMPT_VERSION",
    "UI_STRINGS",
    "InAppChannel",
    "notify_signature",
    "prompt",
    "prompt_json",
    "ui_strings",
]
