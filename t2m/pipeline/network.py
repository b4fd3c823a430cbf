"""Is a server reachable? Asked once, answered within a few seconds, so that no download or W&B call
hangs for half a minute on a machine without network (a compute node, a laptop on a train).

    reachable("https://api.wandb.ai")   None, or why not ("Name or service not known", "no answer within 3 s")
    hub_offline()                       None if the Hugging Face hub answers; otherwise why not, after
                                        switching this process's HF libraries to offline mode (cache only)
"""

from __future__ import annotations

import os
import sys
import threading
import urllib.error
import urllib.request
from functools import lru_cache

PROBE_TIMEOUT_S = 3.0


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if the server at `url` answers an HTTP request within `timeout` seconds (any status: a 401
    or 404 is still a server), else why not. A TCP connection alone proves little (firewalls and
    proxies accept connections for servers they will never reach), and a TLS handshake with the real
    host is part of the answer. Runs in a thread, so a DNS lookup that hangs also ends in time."""
    outcome: list[str | None] = []

    def ask():
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)  # the server answered
        except urllib.error.URLError as e:
            reason = e.reason
            outcome.append(getattr(reason, "strerror", None) or str(reason))
        except (OSError, ValueError) as e:
            outcome.append(getattr(e, "strerror", None) or str(e) or type(e).__name__)

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=1)
def hub_offline() -> str | None:
    """Why the Hugging Face hub is not used in this process (None: it is reachable). If it cannot be
    reached, switch every HF library to offline mode, so loads use the local cache or fail at once."""
    if truthy(os.environ.get("HF_HUB_OFFLINE")):
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    why = reachable(endpoint)
    if why is None:
        return None
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE")):
        if module in sys.modules:  # imported before the switch: tell them too
            setattr(sys.modules[module], attr, True)
    return f"cannot reach {endpoint} ({why})"
