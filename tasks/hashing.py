"""A short, stable digest of any JSON-able value (memo keys, recorded inputs)."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:20]
