"""Talks to ``tests/sync_client/driver.js``: simulated phones running the real WatermelonDB."""

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[2] / "sync_client"
TIMEOUT = 60


class ClientFailed(AssertionError):
    pass


class NodeClient:
    def __init__(self):
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", "driver.js"],
            cwd=CLIENT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.answers: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(
            target=self._read, args=(self.process.stdout, self.answers.put), daemon=True
        ).start()
        threading.Thread(
            target=self._read, args=(self.process.stderr, self.stderr.append), daemon=True
        ).start()

    @staticmethod
    def _read(stream, sink):
        for line in stream:
            sink(line)

    def __call__(self, cmd: str, **args):
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        try:
            answer = json.loads(self.answers.get(timeout=TIMEOUT))
        except queue.Empty:
            raise ClientFailed(
                f"no answer to {cmd} in {TIMEOUT}s; stderr:\n{''.join(self.stderr)}"
            ) from None
        if not answer["ok"]:
            raise ClientFailed(
                f"{cmd} failed: {answer['error']}\nstderr:\n{''.join(self.stderr[-40:])}"
            )
        return answer["result"]

    def close(self) -> int:
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -1


class Device:
    """One phone: its own WatermelonDB database, signed in as the patient (or as a caregiver
    syncing ``patient``'s record: ``?patient=``, and the database dropped when the access
    ended, as docs/sync.md's client code does)."""

    def __init__(
        self,
        client: NodeClient,
        name: str,
        base_url: str,
        token: str,
        schema: int = 2,
        refresh: str | None = None,
        patient: int | None = None,
    ):
        self.client, self.name = client, name
        client(
            "open",
            device=name,
            baseUrl=base_url,
            token=token,
            refresh=refresh,
            schema=schema,
            patient=patient,
        )

    def create(self, table, **values) -> str:
        return self.client("create", device=self.name, table=table, values=values)["id"]

    def update(self, table, id, **values):
        self.client("update", device=self.name, table=table, id=id, values=values)

    def delete(self, table, id):
        self.client("delete", device=self.name, table=table, id=id)

    def records(self, table) -> dict[str, dict]:
        return {
            r["id"]: r for r in self.client("records", device=self.name, table=table)["records"]
        }

    def sync(self, **options) -> dict:
        return self.client("sync", device=self.name, **options)

    def synced(self, **options) -> dict:
        """A sync that must succeed."""
        result = self.sync(**options)
        assert result["synced"], result
        return result

    def resume(self) -> dict:
        return self.client("resume", device=self.name)

    def upgrade(self, schema: int):
        self.client("upgrade", device=self.name, schema=schema)

    def drop_connection(self, pages: int = 1):
        """The next ``pages`` page requests of a paged pull fail (a dropped connection)."""
        self.client("dropConnection", device=self.name, pages=pages)

    def cursor(self) -> str | None:
        return self.client("cursor", device=self.name)["cursor"]

    def set_cursor(self, cursor: str):
        self.client("setCursor", device=self.name, cursor=cursor)
