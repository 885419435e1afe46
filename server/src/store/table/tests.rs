//! The table's promises: changes survive a reopen, a refused or failed change leaves nothing
//! behind, a failed cut-back poisons, the journal stays small, and old files still open.

use super::journal::MIN_JOURNAL_BYTES;
use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A map of counters; a change sets one.
#[derive(Default, Serialize, Deserialize)]
struct Doc(BTreeMap<String, u32>);

impl Document for Doc {
    type Change = (String, u32);
    fn apply(&mut self, (key, value): Self::Change) {
        self.0.insert(key, value);
    }
}

fn set(table: &Table<Doc>, key: &str, value: u32) {
    table
        .update(|_| Ok::<_, StoreError>(((key.into(), value), ())))
        .unwrap();
}

fn get(table: &Table<Doc>, key: &str) -> Option<u32> {
    table.read().0.get(key).copied()
}

#[test]
fn changes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let table = Table::<Doc>::open(&path).unwrap();
    set(&table, "a", 1);
    set(&table, "a", 2);
    drop(table);
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!(get(&table, "a"), Some(2));
}

#[test]
fn a_refused_change_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let table = Table::<Doc>::open(&path).unwrap();
    let result: Result<(), StoreError> = table.update(|_| Err(StoreError::Poisoned("no".into())));
    assert!(result.is_err());
    assert!(table.read().0.is_empty());
    assert_eq!(
        std::fs::metadata(path.with_extension("journal"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_failed_append_changes_nothing_and_leaves_no_half_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let table = Table::<Doc>::open(&path).unwrap();
    set(&table, "a", 1);
    let journal = std::fs::read(path.with_extension("journal")).unwrap();
    table.fail_next_append(false);
    let result = table.update(|_| Ok::<_, StoreError>((("a".into(), 2), ())));
    assert!(matches!(result, Err(StoreError::Io { .. })));
    assert_eq!(get(&table, "a"), Some(1));
    assert_eq!(
        std::fs::read(path.with_extension("journal")).unwrap(),
        journal
    );
    set(&table, "b", 3);
    drop(table);
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), Some(3)));
}

#[test]
fn a_failed_append_whose_cut_back_fails_poisons_the_table_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let table = Table::<Doc>::open(&path).unwrap();
    set(&table, "a", 1);
    table.fail_next_append(true);
    let result = table.update(|_| Ok::<_, StoreError>((("a".into(), 2), ())));
    assert!(matches!(result, Err(StoreError::Io { .. })));
    let later = table.update(|_| Ok::<_, StoreError>((("b".into(), 3), ())));
    assert!(matches!(later, Err(StoreError::Poisoned(_))), "{later:?}");
    assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), None));
    drop(table);
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), None));
    set(&table, "b", 3);
    drop(table);
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!((get(&table, "a"), get(&table, "b")), (Some(1), Some(3)));
}

#[test]
fn the_journal_is_folded_into_the_snapshot_and_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let table = Table::<Doc>::open(&path).unwrap();
    for i in 0..5_000 {
        set(&table, &format!("key{}", i % 100), i);
    }
    let journal = std::fs::metadata(path.with_extension("journal"))
        .unwrap()
        .len();
    assert!(path.exists(), "a snapshot was written");
    assert!(
        journal <= MIN_JOURNAL_BYTES + 100,
        "journal is {journal} bytes"
    );
    drop(table);
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!(table.read().0.len(), 100);
    assert_eq!(get(&table, "key99"), Some(4_999));
}

#[test]
fn lines_already_in_the_snapshot_are_not_applied_again() {
    // A crash after the new snapshot was written and before the journal was emptied.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    std::fs::write(&path, r#"{"through":2,"doc":{"a":20}}"#).unwrap();
    std::fs::write(
        path.with_extension("journal"),
        "{\"n\":1,\"change\":[\"a\",1]}\n{\"n\":2,\"change\":[\"b\",2]}\n{\"n\":3,\"change\":[\"c\",3]}\n",
    )
    .unwrap();
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!(
        (get(&table, "a"), get(&table, "b"), get(&table, "c")),
        (Some(20), None, Some(3))
    );
    set(&table, "d", 4);
    drop(table);
    let journal = std::fs::read_to_string(path.with_extension("journal")).unwrap();
    assert!(
        journal.ends_with("{\"n\":4,\"change\":[\"d\",4]}\n"),
        "{journal}"
    );
}

#[test]
fn a_torn_last_line_is_cut_and_a_bad_middle_line_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let journal = path.with_extension("journal");
    let good = "{\"n\":1,\"change\":[\"a\",1]}\n";
    std::fs::write(&journal, format!("{good}{{\"n\":2,\"cha")).unwrap();
    let table = Table::<Doc>::open(&path).unwrap();
    assert_eq!(get(&table, "a"), Some(1));
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), good);
    set(&table, "b", 2);
    drop(table);
    assert_eq!(get(&Table::<Doc>::open(&path).unwrap(), "b"), Some(2));

    std::fs::write(&journal, format!("{good}garbage\n{good}")).unwrap();
    assert!(matches!(
        Table::<Doc>::open(&path),
        Err(StoreError::Corrupt { offset, .. }) if offset == good.len() as u64
    ));
}

#[test]
fn a_snapshot_from_before_the_journal_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    std::fs::write(&path, r#"{"a":7}"#).unwrap();
    assert_eq!(get(&Table::<Doc>::open(&path).unwrap(), "a"), Some(7));
}
