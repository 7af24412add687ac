"""A tiny keyring backend for tests: entries in a JSON file (never for real secrets).

Set in-process with ``keyring.set_keyring(JsonFileKeyring(path))``, or in a child process with
``PYTHON_KEYRING_BACKEND=tests.keys.json_keyring.JsonFileKeyring`` and ``MSB_TEST_KEYRING``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class JsonFileKeyring(KeyringBackend):
    """``get_password`` / ``set_password`` / ``delete_password`` over one JSON file."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - keyring's classproperty
        # Never chosen by keyring's discovery unless a test names the file (not viable else).
        if "MSB_TEST_KEYRING" not in os.environ:
            raise RuntimeError("the JSON test keyring is for tests only")
        return 1.0

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.file = Path(path or os.environ.get("MSB_TEST_KEYRING", "test-keyring.json"))

    def _read(self) -> dict[str, str]:
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._read().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._read()
        data[f"{service}/{username}"] = password
        self.file.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._read()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not set")
        self.file.write_text(json.dumps(data))
