"""Uploaded files kept on the server between the steps of an import (columns, dry run, confirmation).

The browser holds only a random token in the address; the data stays in a folder of the server
(`<MEDIA_DIR>/console-uploads`, one JSON file per upload, readable by the bot's user only). An upload belongs
to the staff session that made it: another session, even of the same person, cannot read or use it. Uploads
older than TTL are removed at the next upload, and an upload is removed once imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import Clock

TTL = timedelta(hours=6)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass
class Upload:
    token: str
    owner: str  # the SHA-256 of the staff session that uploaded it
    file_name: str
    created_at: datetime
    table: dict[str, Any]
    mapping: dict[str, int] = field(default_factory=dict)


class UploadStore:
    def __init__(self, folder: Path, clock: Clock) -> None:
        self.folder = folder
        self.clock = clock

    def _path(self, token: str) -> Path | None:
        return self.folder / f"{token}.json" if _TOKEN.fullmatch(token) else None

    def _write(self, upload: Upload) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{upload.token}.json"
        temp = path.with_suffix(".tmp")
        body = json.dumps({"owner": upload.owner, "file_name": upload.file_name,
                           "created_at": upload.created_at.isoformat(), "table": upload.table,
                           "mapping": upload.mapping}, ensure_ascii=False)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        temp.replace(path)

    def save(self, *, owner: str, file_name: str, table: dict[str, Any], mapping: dict[str, int]) -> Upload:
        self.sweep()
        upload = Upload(token=secrets.token_urlsafe(24), owner=owner, file_name=file_name,
                        created_at=self.clock.now(), table=table, mapping=mapping)
        self._write(upload)
        return upload

    def load(self, token: str, *, owner: str) -> Upload | None:
        """The upload of this token if it belongs to `owner` and has not expired; else None."""
        path = self._path(token)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            created = datetime.fromisoformat(data["created_at"])
        except (OSError, ValueError, KeyError):
            return None
        if data.get("owner") != owner or self.clock.now() - created > TTL:
            return None
        return Upload(token=token, owner=data["owner"], file_name=data.get("file_name", ""), created_at=created,
                      table=data["table"], mapping={k: int(v) for k, v in (data.get("mapping") or {}).items()})

    def set_mapping(self, upload: Upload, mapping: dict[str, int]) -> None:
        upload.mapping = dict(mapping)
        self._write(upload)

    def claim(self, token: str, *, owner: str) -> Upload | None:
        """Take the upload for its import: a second confirmation (a double click) finds nothing."""
        upload = self.load(token, owner=owner)
        path = self._path(token)
        if upload is None or path is None:
            return None
        try:
            path.rename(path.with_suffix(".claimed"))
        except FileNotFoundError:  # another request claimed it first
            return None
        return upload

    def release(self, token: str) -> None:
        """Give a claimed upload back (its import failed): it can be confirmed again."""
        path = self._path(token)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.with_suffix(".claimed").rename(path)

    def discard(self, token: str) -> None:
        path = self._path(token)
        if path is not None:
            path.unlink(missing_ok=True)
            path.with_suffix(".claimed").unlink(missing_ok=True)

    def sweep(self) -> None:
        """Remove the uploads older than TTL (left by imports never confirmed)."""
        if not self.folder.is_dir():
            return
        limit = (self.clock.now() - TTL).timestamp()
        for path in [*self.folder.glob("*.json"), *self.folder.glob("*.claimed")]:
            try:
                created = datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["created_at"])
                if created.timestamp() < limit:
                    path.unlink(missing_ok=True)
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
