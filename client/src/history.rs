//! Reading a room's stored timeline back, page by page, newest page first.
//!
//! `history` returns at most [`HISTORY_MAX`] entries below a seq; a client that wants
//! everything after some seq asks for the newest page, then the page below its oldest message,
//! and so on until it reaches that seq or the room's beginning.

use crate::{Api, CallError};
use app::api::HISTORY_MAX;
use app::model::RoomId;
use app::timeline::Entry;

impl Api {
    /// Every stored entry of `room` with seq > `after` (0: the whole room), oldest first.
    pub async fn history_after(&self, room: RoomId, after: u64) -> Result<Vec<Entry>, CallError> {
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = self.history(room, before, HISTORY_MAX).await?;
            let next = page_below(&page, after);
            pages.push(page);
            match next {
                Some(oldest) => before = Some(oldest),
                None => break,
            }
        }
        Ok(pages
            .into_iter()
            .rev()
            .flatten()
            .filter(|entry| entry.seq() > after)
            .collect())
    }
}

/// Where the next page ends (the oldest seq of `page`), or `None` when `page` reached past
/// `after` or the room's beginning.
fn page_below(page: &[Entry], after: u64) -> Option<u64> {
    let oldest = page.first()?.seq();
    (oldest > after + 1).then_some(oldest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{ChatMessage, Username};

    fn page(seqs: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        seqs.map(|seq| {
            Entry::Message(ChatMessage {
                room_id: RoomId(1),
                seq,
                id: seq,
                sender: Username::parse("ana").unwrap(),
                content: String::new(),
                ts: 0,
                client_id: format!("c{seq}"),
                edited: None,
                reply_to: None,
                reactions: None,
            })
        })
        .collect()
    }

    #[test]
    fn paging_stops_at_the_wanted_seq_or_the_beginning() {
        assert_eq!(page_below(&page(101..=200), 0), Some(101));
        assert_eq!(page_below(&page(1..=100), 0), None);
        assert_eq!(page_below(&page(101..=200), 100), None);
        assert_eq!(page_below(&page(101..=200), 99), Some(101));
        assert_eq!(page_below(&[], 0), None);
    }
}
