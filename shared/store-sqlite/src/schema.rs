//! The tables. Every primary key starts with the shop, like the DynamoDB keys (see
//! `shared/aws/TABLE.md`); the columns beside a JSON `body` exist only to be looked up by.

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    shop TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT,
    customer_id TEXT,
    received_at TEXT NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, event_id)
);
CREATE INDEX IF NOT EXISTS events_by_received ON events (shop, received_at);
CREATE INDEX IF NOT EXISTS events_by_customer ON events (shop, customer_id);
CREATE INDEX IF NOT EXISTS events_by_order ON events (shop, order_id);
CREATE INDEX IF NOT EXISTS events_unfinished ON events (received_at) WHERE applied = 0;
CREATE TABLE IF NOT EXISTS orders (
    shop TEXT NOT NULL,
    order_id TEXT NOT NULL,
    customer_id TEXT,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, order_id)
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (shop, customer_id);
CREATE TABLE IF NOT EXISTS customers (
    shop TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, customer_id)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shops (
    shop TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    shop TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    id TEXT NOT NULL,
    flow TEXT NOT NULL,
    -- milliseconds since the epoch; NULL once the message is final (the due index)
    attention_at INTEGER,
    due_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, customer_id, id)
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (flow, attention_at) WHERE attention_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS answers (
    shop TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, customer_id, message_id, question)
);
CREATE TABLE IF NOT EXISTS suppressions (
    shop TEXT NOT NULL,
    address_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    suppressed_at TEXT NOT NULL,
    PRIMARY KEY (shop, address_hash)
);
CREATE TABLE IF NOT EXISTS shop_configs (
    shop TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
-- listed and redacted by key prefix, as a range on the primary key (see `prefix_upper`)
CREATE TABLE IF NOT EXISTS documents (
    shop TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, key)
);
-- single-use OAuth `state` values (see `install.rs`)
CREATE TABLE IF NOT EXISTS oauth_nonces (
    shop TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (shop, nonce)
);
-- Admin API tokens, sealed with AES-256-GCM under the data dir's sealing.key (`sealed_tokens.rs`)
CREATE TABLE IF NOT EXISTS shop_tokens (
    shop TEXT PRIMARY KEY,
    sealed TEXT NOT NULL
);
"#;
