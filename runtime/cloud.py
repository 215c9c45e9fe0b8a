"""The composition root: settings in, a wired cloud out.

The one place that knows every layer. `api/` and `workers/` receive what they
need from here and never build adapters themselves.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette

from api.identity.app import create_identity_app
from api.identity.authn import Authenticator
from api.identity.support import IdentityDeps
from commands.bus import CommandBus, Dependencies
from infra.aggregate_cache import CachedAggregates
from infra.database import Database, PostgresDatabase, open_database
from infra.eventstore import EventStore, open_recorder
from infra.host_wakeups import HostWakeups, wakeups_folder
from infra.log_listener import start_log_listener
from infra.passwords import Argon2Passwords
from infra.schema_lock import schema_lock
from infra.settings import Settings
from infra.tokens import KeyRepository, TokenCodec
from projections.identity.queries import IdentityQueries
from projections.runner import ProjectionRunner
from projections.with_insert import WrittenWithInsert
from runtime import registry

log = logging.getLogger(__name__)


@dataclass
class Cloud:
    settings: Settings
    store: EventStore
    db: Database
    runner: ProjectionRunner
    bus: CommandBus
    queries: IdentityQueries
    authenticator: Authenticator
    keys: KeyRepository
    wakeups: HostWakeups
    stop: threading.Event = field(default_factory=threading.Event)
    # Called with the last notification id of every command this process
    # commits (the relay's poke, for instance), once it is projected, and
    # after the projector caught up with commits of other processes.
    commit_listeners: list[Callable[[int], None]] = field(default_factory=list)

    def identity_app(self) -> Starlette:
        return create_identity_app(
            IdentityDeps(
                bus=self.bus,
                queries=self.queries,
                authenticator=self.authenticator,
                runner=self.runner,
                base_url=self.settings.public_url("identity"),
            )
        )

    def close(self) -> None:
        self.stop.set()
        self.wakeups.close()
        self.db.close()


def build_cloud(settings: Settings) -> Cloud:
    with schema_lock(settings):
        store = EventStore(open_recorder(settings))
        db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
        runner = ProjectionRunner(db, store, registry.projections())
        runner.setup()
    if store.inserts_with_others:
        store.with_insert = WrittenWithInsert(runner)  # read models written with each write
    store.forget_deleted()  # finish any shredding a crash interrupted
    passwords = Argon2Passwords()
    listeners: list[Callable[[int], None]] = []
    wakeups = HostWakeups(wakeups_folder(settings.data_dir))

    def after_commit(position: int) -> None:
        runner.wait_for(position)  # listeners may rely on the read models
        # Before answering: a request that reaches another process of this
        # host next must find its caches already out of date.
        wakeups.notify({name: runner.changed_position(name) for name in runner.projections})
        for listener in listeners:
            listener(position)

    def identity_version() -> int:
        """What the identity caches key on: its last change, by any process."""
        return max(runner.changed_position("identity"), wakeups.changed("identity"))

    # Commands load from kept copies: each save checks what its command read.
    bus = CommandBus(
        CachedAggregates(store), Dependencies(passwords=passwords), after_commit=after_commit
    )
    keys = KeyRepository(settings.fernet_keys_dir)
    keys.ensure()
    codec = TokenCodec(keys, settings.token_ttl_seconds)
    queries = IdentityQueries(db, version=identity_version)
    authenticator = Authenticator(queries, codec, passwords, identity_version)
    runner.catch_up_all()
    return Cloud(
        settings,
        store,
        db,
        runner,
        bus,
        queries,
        authenticator,
        keys,
        wakeups,
        commit_listeners=listeners,
    )


# How long the projector lets commits gather after a catch-up: what it adds
# at most to agents and event streams learning of another process's write.
GATHER_SECONDS = 0.02


def start_projector(cloud: Cloud) -> threading.Thread:
    """Keep projections current with events written by other processes.

    Writers in this process project their own events before answering; this
    loop catches up with everything else (agents, other API processes): at
    once when PostgreSQL notifies a commit, and on a timer regardless, since
    notifications can be lost and SQLite sends none.
    """
    wake = threading.Event()
    if isinstance(cloud.db, PostgresDatabase):
        channel = getattr(cloud.store.recorder, "channel_name", None)
        if isinstance(channel, str):
            start_log_listener(cloud.db.conninfo, channel, wake.set, cloud.stop)

    def hear_peers() -> None:
        """Other processes of this host wake the loop as soon as they commit."""
        while not cloud.stop.is_set():
            if cloud.wakeups.wait(cloud.settings.catch_up_interval):
                wake.set()

    def loop() -> None:
        seen = cloud.runner.lowest_known_position()
        while not cloud.stop.is_set():
            wake.wait(cloud.settings.catch_up_interval)
            wake.clear()
            if cloud.stop.is_set():
                return
            try:
                cloud.runner.catch_up_all()
            except Exception:  # keep tailing: a failed batch is retried next round
                log.exception("projection catch-up failed")
                continue
            reached = cloud.runner.lowest_known_position()
            if reached > seen:  # others committed: wake what this process runs
                seen = reached
                for listener in cloud.commit_listeners:
                    try:
                        listener(reached)
                    except Exception:  # one listener's fault must not stop the others
                        log.exception("commit listener failed")
            # Under a stream of commits, each wakes every process; letting
            # them gather for a moment makes one catch-up cover many.
            if cloud.stop.wait(GATHER_SECONDS):
                return

    thread = threading.Thread(target=loop, name="projector", daemon=True)
    thread.start()
    threading.Thread(target=hear_peers, name="projector-wakeups", daemon=True).start()
    return thread


def new_password() -> str:
    return secrets.token_urlsafe(18)
