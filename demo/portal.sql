-- A small developer portal: accounts, their API keys, and an audit trail of
-- events with the actor's name, IP, a free-text message and a JSON payload.
CREATE SCHEMA portal;
CREATE TABLE portal.users (
    id                 serial PRIMARY KEY,
    username           text NOT NULL UNIQUE,
    email              text NOT NULL UNIQUE,
    first_name         text,
    last_name          text,
    registered_company text,
    position           text,
    phone              text,
    preferred_language text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE portal.api_keys (
    id         serial PRIMARY KEY,
    user_id    int NOT NULL REFERENCES portal.users ON DELETE CASCADE,
    label      text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE portal.audit_events (
    id         bigserial PRIMARY KEY,
    actor      text NOT NULL,
    ip         inet,
    message    text,
    payload    jsonb,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON portal.audit_events (actor);

INSERT INTO portal.users (username, email, first_name, last_name, registered_company, position, phone, preferred_language) VALUES
  ('alice', 'alice@example.com', 'Alice', 'Archer', 'Acme Ltd', 'CTO', '+44 20 7946 0001', 'en'),
  ('bob',   'bob@example.org',   'Bob',   'Baker',  'Bakery',   'Owner', '+1 555 0100', 'fr'),
  ('carol', 'carol@example.net', 'Carol', 'Cole',   NULL,       NULL, NULL, 'de');
INSERT INTO portal.api_keys (user_id, label) VALUES (1, 'ci'), (1, 'laptop'), (2, 'prod');
INSERT INTO portal.audit_events (actor, ip, message, payload) VALUES
  ('alice', '203.0.113.17', 'alice signed in', '{"user": "alice", "email": "alice@example.com", "agent": "curl"}'),
  ('alice', '203.0.113.17', 'alice created API key ci', '{"user": "alice", "key": {"label": "ci", "owner": {"email": "alice@example.com"}}}'),
  ('bob',   '198.51.100.4', 'bob invited alice@example.com to team Bakery', '{"user": "bob", "invitee": "alice"}'),
  ('carol', '2001:db8:7:1::42', 'carol changed her phone number', '{"user": "carol"}');
