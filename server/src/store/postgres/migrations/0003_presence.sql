-- Who is online on each node, as the node last said (every bus::postgres::PRESENCE_EVERY): how a
-- node learns of the people on other nodes when it starts or missed their presence events, and
-- how it forgets a node that stopped (a row not refreshed for PRESENCE_FORGET is removed).
-- Best effort, like presence itself; nothing else depends on it.
CREATE TABLE node_presence (
    node   text        PRIMARY KEY,
    online bigint[]    NOT NULL,
    seen   timestamptz NOT NULL DEFAULT now()
);
