-- Inbound messages (SMS and WhatsApp replies), kept for audit whether or not
-- they scored, and claimed by provider message id so a provider's retry of
-- a webhook is processed once.
CREATE TABLE inbound_messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    channel             TEXT NOT NULL,
    from_address        TEXT NOT NULL,
    to_address          TEXT NOT NULL DEFAULT '',
    body                TEXT NOT NULL DEFAULT '',
    delivery_id         TEXT NOT NULL DEFAULT '',
    outcome             TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    UNIQUE (provider, provider_message_id)
) STRICT;
CREATE INDEX inbound_messages_from_idx ON inbound_messages (from_address, created_at);

-- Replies are matched to the newest delivery to their number; status
-- callbacks find a delivery by the provider's message id.
CREATE INDEX deliveries_address_idx ON deliveries (address, created_at);
CREATE INDEX deliveries_provider_message_idx ON deliveries (provider_message_id);
CREATE INDEX contacts_phone_idx ON contacts (phone);
