-- Hand-written: the single row the COPY writer increments (see ingest_epoch in schema.ts).
INSERT INTO ingest_epoch (epoch) VALUES (0);
