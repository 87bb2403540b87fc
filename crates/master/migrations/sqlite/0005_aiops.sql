-- The AIOps engine's whole state (graphs, baselines, state machines, incidents and their
-- timelines) as one JSON document: one row, id 1. Written after ticks that changed a state or
-- an incident, else at most every minute, and on shutdown; read back at start.
CREATE TABLE aiops_state (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    json        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);
