-- Run at start-up by `wasmhive up --sqlite @migration.sql`, as `spin up --sqlite @migration.sql` does.
CREATE TABLE IF NOT EXISTS things (i INTEGER, r REAL, t TEXT, b BLOB, n);
INSERT INTO things(i, t) VALUES (1, 'seeded');
