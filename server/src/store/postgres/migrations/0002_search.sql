-- Full-text search on PostgreSQL: every node answers from the same rows, so a message is findable
-- on every node the moment its batch commits (a node's own tantivy index would only know what
-- that node saw). See docs/storage.md ("Search").

-- A text's words, as both the stored messages and a query are cut: every run of characters that
-- are not letters or digits separates words, and the 'simple' configuration lowercases them and
-- keeps every word (no stemming, no stop words), as the file store's tantivy index does. One
-- function for both sides, so a query's words are always the words a message was indexed with.
CREATE FUNCTION minitalk_words(content text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_tsvector('simple', regexp_replace(content, '[^[:alnum:]]+', ' ', 'g')) $$;

CREATE FUNCTION minitalk_query(words text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT plainto_tsquery('simple', regexp_replace(words, '[^[:alnum:]]+', ' ', 'g')) $$;

-- A message's words as it reads now: its newest edit, or its text; none once deleted (the row's
-- frame and edit are gone, so the column is NULL: the words leave the row in the deleting
-- transaction, and the index's pages at the next vacuum). Generated, so no write path can forget it.
ALTER TABLE entries ADD COLUMN words tsvector GENERATED ALWAYS AS (
    CASE WHEN kind = 0 THEN minitalk_words(COALESCE(edit_content, frame::json ->> 'content')) END
) STORED;

CREATE INDEX entries_words ON entries USING gin (words) WHERE kind = 0;
