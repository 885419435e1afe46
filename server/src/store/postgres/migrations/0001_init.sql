-- Minitalk's schema on PostgreSQL: the same nouns as the file store (accounts, rooms, the
-- timeline), as rows. See docs/storage.md ("PostgreSQL") for what each promise rests on.

-- Accounts ---------------------------------------------------------------------------------------

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text   NOT NULL,
    -- Username::key (ASCII lowercase): unique, so two sign-ups for one name make one account.
    name_key      text   NOT NULL UNIQUE,
    password_hash text   NOT NULL,
    created       bigint NOT NULL
);

CREATE TABLE sessions (
    -- The SHA-256 of the token, in hex: the token itself never reaches the database.
    key      text   PRIMARY KEY,
    user_id  bigint NOT NULL,
    username text   NOT NULL,
    expires  bigint NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id, expires);

-- Rooms ------------------------------------------------------------------------------------------

CREATE TABLE rooms (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text   NOT NULL,
    topic      text   NOT NULL DEFAULT '',
    -- 'public', 'private' or 'direct'.
    visibility text   NOT NULL,
    created_by bigint NOT NULL,
    created    bigint NOT NULL,
    -- A direct conversation's people, their sorted ids: one conversation per set of people.
    direct_key text   UNIQUE
);
CREATE INDEX rooms_by_creator ON rooms (created_by);

-- Where someone stands in a room: a member (with a role), invited or banned. No row: gone.
CREATE TABLE standings (
    room_id   bigint NOT NULL REFERENCES rooms ON DELETE CASCADE,
    user_id   bigint NOT NULL,
    username  text   NOT NULL,
    -- 'member', 'invited' or 'banned'.
    standing  text   NOT NULL,
    -- A member's role ('owner', 'moderator', 'member'), their read mark and their own
    -- notification level (NULL: the room's kind decides).
    role      text,
    last_read bigint NOT NULL DEFAULT 0,
    notify    text,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX standings_by_user ON standings (user_id);

-- The timeline -----------------------------------------------------------------------------------

-- Each room's newest seq: the row an append locks (in room id order) to number the room's next
-- entries densely. `revision` counts edits, message deletions and reactions (RoomHead::revision);
-- `access_seq` is the seq of the newest member entry (RoomAccess::version): an append decided
-- with an older one is refused, so no node stores what another node's change forbids.
CREATE TABLE room_heads (
    room_id    bigint PRIMARY KEY,
    last_seq   bigint NOT NULL DEFAULT 0,
    last_ts    bigint,
    revision   bigint NOT NULL DEFAULT 0,
    access_seq bigint NOT NULL DEFAULT 0
);

CREATE SEQUENCE entry_ids;

-- Every timeline entry, as it reads now.
CREATE TABLE entries (
    room_id     bigint   NOT NULL,
    seq         bigint   NOT NULL,
    id          bigint   NOT NULL,
    ts          bigint   NOT NULL,
    -- 0 message, 1 member, 2 room, 3 room deleted, 4 edit, 5 message deleted, 6 reaction.
    kind        smallint NOT NULL,
    -- Who sent it and their client_id: the dedupe key. Kept for a deleted message (it is still
    -- known as that message), gone (NULL) for anything else erased.
    sender      text,
    sender_key  text,
    client_id   text,
    -- What the entry asked to store (dedupe::fingerprint), to tell a resend from a reuse.
    fingerprint bigint,
    target_seq  bigint,
    -- The entry's JSON, exactly the frame sent to clients. NULL once erased.
    frame       text,
    erased      boolean  NOT NULL DEFAULT false,
    -- A message's mentioned names (Username::key), separated by spaces (a name holds none);
    -- NULL for anything else and once deleted.
    mentions    text,
    -- A message's newest edit, and its reactions.
    edit_seq     bigint,
    edit_ts      bigint,
    edit_content text,
    reactions    jsonb,
    PRIMARY KEY (room_id, seq)
);
-- Dedupe across nodes and restarts: a (sender, client_id) is stored once, for ever.
CREATE UNIQUE INDEX entries_dedupe ON entries (sender_key, client_id);
CREATE INDEX entries_edits ON entries (room_id, target_seq) WHERE kind = 4;
-- The room events a node reads at start (memberships, settings, deletions: TimelineFacts).
CREATE INDEX entries_by_kind ON entries (kind, room_id, seq) WHERE kind IN (1, 2, 3);
