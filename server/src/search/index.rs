//! The tantivy index itself: its schema, opening it (or starting it again when it is missing
//! or damaged), changing it as the timeline says, committing with the cursors, and querying.
//!
//! Synchronous and blocking (tantivy writes and `fsync`s files): the indexer task calls it on
//! the blocking pool.

use super::{Wanted, MAX_WORDS};
use app::model::{ChatMessage, RoomId};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Memory the writer buffers documents in before it writes a segment (tantivy's floor is 15 MB).
const WRITER_HEAP_BYTES: usize = 15_000_000;

/// Each room's newest seq the index reflects: kept in the commit's payload, so it moves with
/// what the commit holds, atomically.
pub type Cursors = BTreeMap<u64, u64>;

#[derive(Clone, Copy)]
struct Fields {
    /// `room:seq`, unique: what an edit or deletion replaces or removes.
    key: Field,
    room: Field,
    seq: Field,
    /// The sender's [`app::model::Username::key`].
    sender: Field,
    ts: Field,
    /// The words, indexed, never stored: the text is read from the message store, as it is now.
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let fields = Fields {
        key: builder.add_text_field("key", STRING),
        room: builder.add_u64_field("room", INDEXED | STORED),
        seq: builder.add_u64_field("seq", STORED),
        sender: builder.add_text_field("sender", STRING),
        // Fast too: a date filter then reads a column, not every term of its range.
        ts: builder.add_i64_field("ts", INDEXED | FAST),
        text: builder.add_text_field("text", TEXT),
    };
    (builder.build(), fields)
}

fn key(room: RoomId, seq: u64) -> String {
    format!("{room}:{seq}")
}

/// The index's writing side: one, owned by the indexer task.
pub struct SearchIndex {
    reader: IndexReader,
    writer: IndexWriter,
    fields: Fields,
    cursors: Cursors,
}

/// The index's reading side: cloned into each query (queries run while the indexer writes).
#[derive(Clone)]
pub struct Searcher {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl SearchIndex {
    /// Opens the index in `dir`, or starts it empty (to be filled from the log) when it is
    /// missing, damaged, of another schema, or has no cursors. Says which in the log.
    pub fn open(dir: &Path) -> tantivy::Result<(Self, Searcher)> {
        let (schema, fields) = schema();
        let opened = Index::open_in_dir(dir).and_then(|index| {
            let cursors = index
                .load_metas()?
                .payload
                .and_then(|payload| serde_json::from_str::<Cursors>(&payload).ok());
            match cursors {
                Some(cursors) if index.schema() == schema => Ok((index, cursors)),
                _ => Err(tantivy::TantivyError::SchemaError(
                    "another schema, or no cursors".into(),
                )),
            }
        });
        let (index, cursors) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                if dir.exists() {
                    tracing::warn!(dir = %dir.display(), "the search index cannot be used ({e}); rebuilding it from the message log");
                    std::fs::remove_dir_all(dir)?;
                }
                crate::store::create_private_dir(dir)
                    .map_err(|e| tantivy::TantivyError::SystemError(e.to_string()))?;
                (Index::create_in_dir(dir, schema)?, Cursors::new())
            }
        };
        let writer = index.writer_with_num_threads(1, WRITER_HEAP_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = Searcher {
            index,
            reader: reader.clone(),
            fields,
        };
        let writing = Self {
            reader,
            writer,
            fields,
            cursors,
        };
        Ok((writing, searcher))
    }

    pub fn cursor(&self, room: RoomId) -> u64 {
        self.cursors.get(&room.0).copied().unwrap_or(0)
    }

    pub fn set_cursor(&mut self, room: RoomId, seq: u64) {
        self.cursors.insert(room.0, seq);
    }

    /// Indexes `message` as it is now (replacing what the index had for it).
    pub fn put(&mut self, message: &ChatMessage) -> tantivy::Result<()> {
        let f = self.fields;
        self.writer.delete_term(Term::from_field_text(
            f.key,
            &key(message.room_id, message.seq),
        ));
        self.writer.add_document(doc!(
            f.key => key(message.room_id, message.seq),
            f.room => message.room_id.0,
            f.seq => message.seq,
            f.sender => message.sender.key(),
            f.ts => message.ts,
            f.text => message.content.as_str(),
        ))?;
        Ok(())
    }

    /// Forgets message `seq` of `room` (deleted, or erased before it was indexed).
    pub fn remove(&mut self, room: RoomId, seq: u64) {
        let term = Term::from_field_text(self.fields.key, &key(room, seq));
        self.writer.delete_term(term);
    }

    /// Forgets every message of `room` (deleted).
    pub fn remove_room(&mut self, room: RoomId) {
        let term = Term::from_field_u64(self.fields.room, room.0);
        self.writer.delete_term(term);
    }

    /// The rooms the index has a cursor for (a deleted room among them, whose removal a stop
    /// may have kept from being committed).
    pub fn rooms(&self) -> impl Iterator<Item = RoomId> + '_ {
        self.cursors.keys().map(|room| RoomId(*room))
    }

    /// Makes what was put and removed durable, with the cursors.
    pub fn commit(&mut self) -> tantivy::Result<()> {
        let payload = serde_json::to_string(&self.cursors).expect("cursors serialize");
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()
    }

    /// Whether a committed segment still holds removed documents (their words are in its
    /// files until it is rewritten).
    pub fn holds_removed(&self) -> bool {
        let searcher = self.reader.searcher();
        searcher
            .segment_readers()
            .iter()
            .any(|segment| segment.num_deleted_docs() > 0)
    }

    /// Rewrites every segment that holds removed documents and deletes the old files, so that
    /// removed words leave the disk (see `docs/storage.md`, "Search"). Fails, to be tried
    /// again, when tantivy is merging one of them on its own meanwhile.
    pub fn purge(&mut self) -> tantivy::Result<()> {
        let searcher = self.reader.searcher();
        let holding: Vec<_> = searcher
            .segment_readers()
            .iter()
            .filter(|segment| segment.num_deleted_docs() > 0)
            .map(|segment| segment.segment_id())
            .collect();
        if !holding.is_empty() {
            self.writer.merge(&holding).wait()?;
        }
        self.writer.garbage_collect_files().wait()?;
        self.reader.reload()
    }

    /// Lets go of the index: waits for tantivy's merge threads, so nothing writes in its
    /// directory after this returns.
    pub fn close(self) -> tantivy::Result<()> {
        self.writer.wait_merging_threads()
    }
}

impl Searcher {
    /// The (room, seq) of the best matches of `query`, best first: never outside its rooms.
    pub fn search(&self, query: &Wanted) -> tantivy::Result<Vec<(RoomId, u64)>> {
        let f = self.fields;
        if query.rooms.is_empty() {
            return Ok(Vec::new());
        }
        // A person's words, not a query language: each word the text's tokenizer makes of them
        // must be there (no operators, ranges or fields a stranger could make costly).
        let mut analyzer = self.index.tokenizer_for_field(f.text)?;
        let mut stream = analyzer.token_stream(&query.words);
        let mut words = Vec::new();
        while stream.advance() && words.len() < MAX_WORDS {
            words.push(stream.token().text.clone());
        }
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let rooms = query
            .rooms
            .iter()
            .map(|r| Term::from_field_u64(f.room, r.0));
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(TermSetQuery::new(rooms)))];
        for word in words {
            let term = Term::from_field_text(f.text, &word);
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            ));
        }
        if let Some(sender) = &query.sender {
            let term = Term::from_field_text(f.sender, sender);
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if query.from_ts.is_some() || query.until_ts.is_some() {
            let bound = |ts: Option<i64>| match ts {
                Some(ts) => Bound::Included(Term::from_field_i64(f.ts, ts)),
                None => Bound::Unbounded,
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(bound(query.from_ts), bound(query.until_ts))),
            ));
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(query.limit.max(1)),
        )?;
        let mut hits = Vec::with_capacity(top.len());
        for (_score, address) in top {
            let found: TantivyDocument = searcher.doc(address)?;
            let value = |field| found.get_first(field).and_then(|v| v.as_u64());
            if let (Some(room), Some(seq)) = (value(f.room), value(f.seq)) {
                hits.push((RoomId(room), seq));
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Username;

    fn message(seq: u64, text: &str) -> ChatMessage {
        ChatMessage {
            room_id: RoomId(1),
            seq,
            id: seq,
            sender: Username::parse("ana").unwrap(),
            content: text.into(),
            ts: 1_000 * seq as i64,
            client_id: format!("c{seq}"),
            edited: None,
            reply_to: None,
            reactions: None,
        }
    }

    /// Whether any segment's term dictionary holds `word` for the text field.
    fn holds(searcher: &Searcher, word: &str) -> bool {
        let term = Term::from_field_text(searcher.fields.text, word);
        searcher
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .any(|segment| {
                segment
                    .inverted_index(searcher.fields.text)
                    .and_then(|index| index.get_term_info(&term).map_err(Into::into))
                    .is_ok_and(|info| info.is_some())
            })
    }

    fn find(searcher: &Searcher, words: &str) -> Vec<u64> {
        let wanted = Wanted {
            words: words.into(),
            rooms: vec![RoomId(1)],
            sender: None,
            from_ts: None,
            until_ts: None,
            limit: 10,
        };
        let mut seqs: Vec<u64> = searcher
            .search(&wanted)
            .unwrap()
            .iter()
            .map(|h| h.1)
            .collect();
        seqs.sort();
        seqs
    }

    #[test]
    fn a_removed_message_s_words_leave_the_segments_at_the_purge() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, searcher) = SearchIndex::open(&dir.path().join("search")).unwrap();
        index.put(&message(1, "alpha durian")).unwrap();
        index.put(&message(2, "alpha mango")).unwrap();
        // Stays: the segment is not dropped whole for having nothing left.
        index.put(&message(3, "alpha papaya")).unwrap();
        index.set_cursor(RoomId(1), 3);
        index.commit().unwrap();
        assert!(holds(&searcher, "durian"));
        assert_eq!(find(&searcher, "alpha"), [1, 2, 3]);
        // An edit replaces; a removal removes, words and all.
        index.put(&message(2, "alpha kiwi")).unwrap();
        index.remove(RoomId(1), 1);
        index.commit().unwrap();
        assert!(index.holds_removed());
        index.purge().unwrap();
        assert!(!index.holds_removed());
        assert_eq!(find(&searcher, "alpha"), [2, 3]);
        assert!(find(&searcher, "mango").is_empty());
        assert!(
            !holds(&searcher, "durian"),
            "the removed message's word is still indexed"
        );
        assert!(
            !holds(&searcher, "mango"),
            "the edited-away word is still indexed"
        );
        // The cursors came back with the index.
        drop((index, searcher));
        let (index, _) = SearchIndex::open(&dir.path().join("search")).unwrap();
        assert_eq!(index.cursor(RoomId(1)), 3);
    }

    #[test]
    fn a_search_is_plain_words() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, searcher) = SearchIndex::open(&dir.path().join("search")).unwrap();
        index.put(&message(1, "Alpha beta")).unwrap();
        index.put(&message(2, "gamma")).unwrap();
        index.commit().unwrap();
        assert_eq!(find(&searcher, "ALPHA, beta!"), [1]);
        // No operators, fields or ranges: they are words, and no message holds them all.
        assert!(find(&searcher, "alpha OR gamma").is_empty());
        assert!(find(&searcher, "text:gamma").is_empty());
        assert!(find(&searcher, "[a TO zz]").is_empty());
        // Punctuation is no syntax either: both are the word alpha.
        assert_eq!(find(&searcher, "-alpha"), [1]);
        assert_eq!(find(&searcher, "\"alpha\""), [1]);
        assert!(find(&searcher, "   ").is_empty());
        // Past 16 words the rest do not count.
        let long = format!("{} nowhere", "alpha ".repeat(16));
        assert_eq!(find(&searcher, &long), [1]);
    }
}
