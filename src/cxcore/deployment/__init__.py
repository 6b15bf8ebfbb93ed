"""A deployment: one file (``cxcore.toml``) for the store, the collector, keys and channels.

``cxcore serve``, ``cxcore dispatch`` and ``cxcore send`` read it. Secrets never
come from the file: it names the environment variables that hold them, and
each part is built from the environment when it is asked for. The library's
own API takes the same values as plain arguments; this is the file's face.

>>> from cxcore.deployment import loads_deployment
>>> deployment = loads_deployment('''
... [store]
... sqlite = "cx.db"
... [collector]
... public_url = "https://cx.example.in"
... ''', folder="/srv/cx")
>>> deployment.store.kind, deployment.tokens.keys_env
('sqlite', 'CXCORE_TOKEN_KEYS')
"""

from cxcore.deployment.environment import looks_secret
from cxcore.deployment.location import CONFIG_VARIABLE, DEFAULT_FILE, find_deployment
from cxcore.deployment.problems import DeploymentError
from cxcore.deployment.reading import load_deployment, loads_deployment
from cxcore.deployment.settings import (
    AppSettings,
    ChannelSettings,
    CollectorSettings,
    Deployment,
    DispatchSettings,
    StoreSettings,
    TokenSettings,
)

__all__ = [
    "CONFIG_VARIABLE",
    "DEFAULT_FILE",
    "AppSettings",
    "ChannelSettings",
    "CollectorSettings",
    "Deployment",
    "DeploymentError",
    "DispatchSettings",
    "StoreSettings",
    "TokenSettings",
    "find_deployment",
    "load_deployment",
    "loads_deployment",
    "looks_secret",
]
