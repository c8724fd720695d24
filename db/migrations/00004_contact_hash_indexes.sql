-- Contact values are stored whatever their length, from webhooks and imports
-- alike (the rule is stated once, on clerksync.ImportContact). A btree entry
-- holds at most about 2.7 kB, so an email address or phone number longer than
-- that (after compression) failed the whole webhook event, or import chunk,
-- that carried it. A hash index keeps a 4-byte hash per row instead: any
-- length is indexed. The lookups these two indexes serve are equalities
-- (lower(email_address) = lower($1), phone_number = $1), which hash indexes
-- answer as btrees do; they are also several times smaller, and cheaper to
-- keep up during a bulk import, where every insert lands on a random page.
--
-- Rebuilding holds a SHARE lock on each table while its index builds:
-- writers (the worker, an import) wait, readers do not; seconds per million
-- rows.

-- +goose Up
DROP INDEX email_addresses_lower_email_idx;
CREATE INDEX email_addresses_lower_email_idx ON email_addresses USING hash (lower(email_address));
DROP INDEX phone_numbers_phone_number_idx;
CREATE INDEX phone_numbers_phone_number_idx ON phone_numbers USING hash (phone_number);

-- +goose Down
-- Fails while a value too long for a btree is stored.
DROP INDEX email_addresses_lower_email_idx;
CREATE INDEX email_addresses_lower_email_idx ON email_addresses (lower(email_address));
DROP INDEX phone_numbers_phone_number_idx;
CREATE INDEX phone_numbers_phone_number_idx ON phone_numbers (phone_number);
