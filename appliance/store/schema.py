"""The store's schema as numbered migrations; ``PRAGMA user_version`` says which have run.

Never edit a migration that has shipped: add the next one. Times are ISO 8601 text with an
offset, except the job scheduler's ``*_at`` columns, which are epoch seconds (REAL) because
they are compared, not shown.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: the appliance core.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- Every command accepted from the PMS, by its idempotency key, with the last reply sent.
    CREATE TABLE inbox (
        request_id TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        received_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        reply TEXT NOT NULL
    );
    -- The booking as the PMS last described it; stale revisions never overwrite it.
    CREATE TABLE bookings (
        id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        arrival TEXT NOT NULL,
        departure TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE owner_keys (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    -- Every key the appliance knows of, per backend; secret is a Fernet token (PIN, card data).
    CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        booking_id TEXT,
        owner_key_id TEXT,
        units TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        state TEXT NOT NULL,
        external_ids TEXT NOT NULL DEFAULT '{}',
        secret BLOB,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX keys_booking ON keys (booking_id);
    CREATE INDEX keys_owner ON keys (owner_key_id);
    -- Durable work for the backends. started = 1: the external call of the current attempt
    -- may have happened, so a crash must not repeat it blindly.
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        backend TEXT NOT NULL,
        kind TEXT NOT NULL,
        key_id TEXT,
        request_id TEXT,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        started INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (backend, state, next_attempt_at);
    -- Replies and events waiting for the broker's PUBACK; payload is a Fernet token because
    -- key_issued carries the guest's PIN.
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        properties TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        published_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox (published_at, id);
    -- Append-only: every key minted or revoked, with the backend's id and its trigger.
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        backend TEXT NOT NULL,
        key_id TEXT,
        external_id TEXT,
        booking_id TEXT,
        owner_key_id TEXT,
        trigger TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    -- What went wrong between us and a backend: failures and reconciliation discrepancies.
    CREATE TABLE integration_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        backend TEXT NOT NULL,
        kind TEXT NOT NULL,
        key_id TEXT,
        message TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: outbox ids never reused. Without AUTOINCREMENT, pruning every published row let the
    # next row take id 1, below what the publisher had already sent in this connection.
    """
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        properties TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        published_at TEXT
    );
    INSERT INTO outbox_new SELECT * FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    CREATE INDEX outbox_pending ON outbox (published_at, id);
    """,
    # 3: Salto KS. A holder may have several keys on one backend, one per key type (the pitch
    # and the shower block are two PINs); ks_entries remembers door events already published.
    """
    ALTER TABLE keys ADD COLUMN key_type TEXT NOT NULL DEFAULT '';
    CREATE TABLE ks_entries (
        id TEXT PRIMARY KEY,
        utc TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    CREATE INDEX ks_entries_utc ON ks_entries (utc);
    """,
    # 4: ProAccess Space key data, prepared when a booking is confirmed: rooms, authorizations,
    # print lines and local times, so the desk can cut a card while the PMS is away.
    """
    ALTER TABLE keys ADD COLUMN plan TEXT NOT NULL DEFAULT '{}';
    """,
    # 5: a job's reply route as columns of its own, no longer hidden in its arguments; a
    # desk job accepted by an older version keeps the route it was given.
    """
    ALTER TABLE jobs ADD COLUMN reply_topic TEXT;
    ALTER TABLE jobs ADD COLUMN reply_properties TEXT;
    UPDATE jobs SET reply_topic = json_extract(payload, '$.reply.topic'),
        reply_properties = json_extract(payload, '$.reply.properties'),
        payload = json_remove(payload, '$.reply')
        WHERE json_extract(payload, '$.reply.topic') IS NOT NULL;
    """,
    # 6: every query on the path of a command on an index, so its cost does not grow with
    # the store: a booking's jobs by key (superseded, queued), jobs and keys by state (the
    # status's waiting jobs, recovery, reconciliation, and the retention pass with the
    # inbox by age).
    """
    CREATE INDEX jobs_key ON jobs (key_id, kind, state);
    CREATE INDEX jobs_state ON jobs (state, updated_at);
    CREATE INDEX keys_state ON keys (state, updated_at);
    CREATE INDEX inbox_received ON inbox (received_at);
    """,
    # 7: whether the PMS has heard of a key (key_issued, key_updated or card_encoded), for
    # key_revoked's "announced". Keys from before were announced when issued, except a PIN
    # minted while its booking ended: 1 is the rule they were made under.
    """
    ALTER TABLE keys ADD COLUMN announced INTEGER NOT NULL DEFAULT 1;
    """,
    # 8: this store's own random id, part of every job event's event_id: job ids count from 1
    # in every store, so without it two sites (or a site's store made anew) would publish the
    # same event_ids and a PMS de-duplicating by event_id would drop real events.
    """
    INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
    """,
    # 9: a row the broker confirmed keeps no payload (a key_issued's PIN or binary key goes
    # at its PUBACK); rows confirmed before that rule lose theirs now, not at the prune.
    """
    UPDATE outbox SET payload = X'' WHERE published_at IS NOT NULL AND payload != X'';
    """,
    # 10: a KS door event names its key by the guest KS gave it (external_ids'
    # platform_user_id): on an index, not a read of every key the site has had.
    """
    CREATE INDEX keys_platform_user ON keys (json_extract(external_ids, '$.platform_user_id'));
    """,
)
