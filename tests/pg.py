"""A real PostgreSQL server for the tests: a throwaway cluster, or the one a URL names.

Unless `MOFA_TEST_POSTGRES_URL` names a server (whose user may create databases), the session
starts its own from the PostgreSQL binaries: `initdb` into a temporary directory as a non-root
user (as root, through `runuser`/`setpriv` as `postgres`), a unix socket in that directory, no
TCP, `fsync=off`; `pg_ctl stop -m immediate` and the directory removed at the end, whatever
happened. Each test gets a schema of its own, as empty as a new database.

Without binaries the database tests skip, except under CI (`CI` set), where they fail: CI
installs the server (`.ci/run`), so a skip there would hide a store that was never tested.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

# A role that must give a password (the other roles are trusted on the socket).
PASSWORD_ROLE = "mofa_password"
PASSWORD = "s3cret-pa55word"


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"no PostgreSQL server for the database tests in CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason}")


def find_bindir() -> str | None:
    """The directory of `initdb` and `pg_ctl`: `MOFA_TEST_PG_BINDIR` when set (and then only
    it), else pg_config's, else the newest Debian one, else the PATH's."""
    chosen = os.environ.get("MOFA_TEST_PG_BINDIR")
    candidates = [chosen] if chosen else _bindirs()
    for directory in candidates:
        if directory and all(
            os.access(os.path.join(directory, tool), os.X_OK)
            for tool in ("initdb", "pg_ctl", "postgres")
        ):
            return directory
    return None


def _bindirs() -> list[str]:
    found = []
    if shutil.which("pg_config"):
        try:
            found.append(
                subprocess.run(
                    ["pg_config", "--bindir"], capture_output=True, text=True, timeout=30
                ).stdout.strip()
            )
        except (OSError, subprocess.SubprocessError):
            pass

    def version(path: str):
        number = path.split(os.sep)[-2]
        return (int(number), "") if number.isdigit() else (0, number)

    found += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        found.append(os.path.dirname(os.path.realpath(initdb)))
    return found


class Server:
    """A server the tests may create databases on; `url(dbname)` reaches one of them."""

    def __init__(self, base_url: str, own: bool):
        self.base_url = base_url
        self.own = own  # started here: a password role exists, and the server can be stopped
        self._names = itertools.count(1)
        self._admin = None

    def url(
        self, schema: str | None = None, user: str | None = None, password: str | None = None
    ) -> str:
        """The server's database, seen through `schema` alone (its search_path), as `user`."""
        parts = urlsplit(self.base_url)
        netloc = parts.netloc
        if user is not None:
            host = netloc.rpartition("@")[2]
            credentials = quote(user, safe="") + (
                f":{quote(password, safe='')}" if password else ""
            )
            netloc = f"{credentials}@{host}"
        query = parts.query
        if schema is not None:
            query = "&".join(
                filter(None, [query, "options=" + quote(f"-csearch_path={schema}", safe="")])
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

    def admin(self):
        if self._admin is None or self._admin.closed:
            import psycopg

            self._admin = psycopg.connect(self.base_url, autocommit=True)
        return self._admin

    def create_schema(self) -> str:
        """A new empty schema: as fresh as a new database for the store, and a thousand times
        quicker to make (CREATE DATABASE costs a quarter of a second)."""
        name = f"mofa_test_{os.getpid()}_{next(self._names)}"
        self.admin().execute(f'CREATE SCHEMA "{name}"')
        return name

    def drop_schema(self, name: str) -> None:
        self.admin().execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


class Cluster:
    """A cluster of our own in a temporary directory, run as a non-root user."""

    def __init__(self, bindir: str, directory: str | None = None):
        self.bindir = bindir
        # A given directory is kept (a benchmark's filled cluster, reused run after run).
        self.keep = directory is not None
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
        self.directory = directory or tempfile.mkdtemp(prefix="mofa-pg-")
        self.data = os.path.join(self.directory, "data")
        self.log = os.path.join(self.directory, "server.log")
        self.started = False
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            self.prefix = _as_postgres()
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        os.chmod(self.directory, 0o700)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.prefix, os.path.join(self.bindir, args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.directory,
        )

    def start(self, settings: str = "") -> str:
        """Start it (`initdb` first unless its data directory exists); `settings` are more
        `-c name=value` options for the server."""
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            done = self._run(
                "initdb",
                "-D",
                self.data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
            hba = os.path.join(self.data, "pg_hba.conf")
            with open(hba, "w", encoding="utf-8") as handle:
                handle.write(f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")
        options = (
            f"-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            f" -c listen_addresses='' -c unix_socket_directories='{self.directory}'"
            f" -c max_connections=200 {settings}"
        ).rstrip()
        self.started = True  # from here on, stop() has something to try
        done = self._run(
            "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options, "start"
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stdout.strip()} {self._log_tail()}")
        return f"postgresql://postgres@/postgres?host={quote(self.directory, safe='/')}"

    def _log_tail(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.started:
            self.started = False
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=60)
            except (OSError, subprocess.SubprocessError):
                pass
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)


def _as_postgres() -> list[str]:
    """A command prefix that runs a program as the `postgres` user (initdb refuses root)."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and no 'postgres' user to run the server as") from None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    raise RuntimeError("running as root and neither runuser nor setpriv to drop to 'postgres'")


def start_cluster(directory: str | None = None, settings: str = "") -> tuple[Cluster, str]:
    """A started cluster and its admin URL; RuntimeError (everything removed) when it cannot.
    In `directory` (kept, and reused when it holds one) rather than a temporary one."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise RuntimeError("psycopg is not installed: pip install -e '.[test]'") from None
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no initdb/pg_ctl found (apt-get install postgresql)")
    cluster = Cluster(bindir, directory)
    atexit.register(cluster.stop)  # a second line of defence if the fixture's end never runs
    try:
        url = cluster.start(settings)
    except BaseException:
        cluster.stop()
        raise
    return cluster, url


@pytest.fixture(scope="session")
def postgres_server():
    """The server of this test session (see the module's docstring)."""
    given = os.environ.get("MOFA_TEST_POSTGRES_URL")
    if given:
        server = Server(given, own=False)
        try:
            yield server
        finally:
            server.close()
        return
    try:
        cluster, url = start_cluster()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        _unavailable(str(error))
    server = Server(url, own=True)
    try:
        server.admin().execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        yield server
    finally:
        server.close()
        cluster.stop()


@pytest.fixture
def pg_schema(postgres_server):
    """A fresh, empty schema for one test; its name."""
    name = postgres_server.create_schema()
    try:
        yield name
    finally:
        postgres_server.drop_schema(name)


@pytest.fixture
def pg_url(postgres_server, pg_schema) -> str:
    """The URL of this test's fresh store (a schema of its own)."""
    return postgres_server.url(pg_schema)
