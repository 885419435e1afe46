//! Which new messages call for a desktop notification, decided from the user stream's rows.
//!
//! Why from the rows: a row already says what a notification needs (the newest unread message,
//! shortened, with whether it mentions you, and the person's level for the room), for every
//! room, open or not, and at most a few times a second per room however busy it is. So a tab
//! needs no subscription to rooms it does not show, and the server no per-message work for it.
//!
//! The rules, pure and tested here; whether to *show* one (permission given, opted in, not the
//! room the person is looking at) is the page's call (`crate::notifications`):
//! - nothing from before the tab started: the first snapshot only sets where each room stands;
//! - one notice per newer message, never twice for one seq (a row sent again, a reconnect's
//!   snapshot, another tab's read mark);
//! - the room's level decides ([`NotifyLevel::wants`]): at `mentions`, the newest message
//!   mentions you, or the row's unread mentions grew since the last row (a mention followed by
//!   other messages before the row was sent); the person's own messages are never unread, so
//!   never notified.

use crate::model::{RoomId, RoomSummary, Visibility};
use std::collections::HashMap;

/// A notification to show: what it says and where clicking it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub room_id: RoomId,
    /// The message to open the room at.
    pub seq: u64,
    /// Who wrote, and where ("bob" in a conversation, "bob in #hall" in a room).
    pub title: String,
    /// The message, shortened.
    pub body: String,
}

/// Per room, the newest seq already notified (or standing when the tab started) and the unread
/// mentions the last row counted.
#[derive(Debug, Clone, Default)]
pub struct Notices {
    /// `None` until the first snapshot.
    seen: Option<HashMap<RoomId, (u64, u64)>>,
}

impl Notices {
    /// A snapshot of every room (the first one only sets where each stands).
    pub fn on_snapshot<'a>(
        &mut self,
        rows: impl IntoIterator<Item = &'a RoomSummary>,
    ) -> Vec<Notice> {
        match &mut self.seen {
            None => {
                let seen = rows
                    .into_iter()
                    .map(|row| (row.id, (row.last_seq, row.mentions)))
                    .collect();
                self.seen = Some(seen);
                Vec::new()
            }
            Some(_) => rows
                .into_iter()
                .filter_map(|row| self.on_row(row))
                .collect(),
        }
    }

    /// One room's row, sent again because it changed.
    pub fn on_row(&mut self, row: &RoomSummary) -> Option<Notice> {
        let seen = self.seen.as_mut()?;
        let (before, mentions_before) = seen.get(&row.id).copied().unwrap_or((0, 0));
        let Some(preview) = row.newest_unread.as_ref().filter(|p| p.seq > before) else {
            // Nothing new (read elsewhere, or the same row again): only the mentions follow.
            seen.insert(row.id, (before, row.mentions));
            return None;
        };
        seen.insert(row.id, (preview.seq, row.mentions));
        let new_mentions = row.mentions > mentions_before;
        row.notify.wants(preview, new_mentions).then(|| Notice {
            room_id: row.id,
            seq: preview.seq,
            title: match row.visibility {
                Visibility::Direct => preview.sender.to_string(),
                Visibility::Public | Visibility::Private => {
                    format!("{} in #{}", preview.sender, row.name)
                }
            },
            body: if preview.mentions_you || !new_mentions {
                preview.excerpt.clone()
            } else {
                format!("You were mentioned. Newest: {}", preview.excerpt)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NotifyLevel, Preview, Role, Username};

    fn row(id: u64, visibility: Visibility, notify: NotifyLevel) -> RoomSummary {
        RoomSummary {
            id: RoomId(id),
            name: "hall".into(),
            topic: String::new(),
            member_count: 2,
            is_member: true,
            last_read_seq: 0,
            last_seq: 0,
            last_activity: None,
            unread: 0,
            mentions: 0,
            visibility,
            role: Some(Role::Member),
            invited: false,
            direct_with: Vec::new(),
            notify,
            newest_unread: None,
        }
    }

    fn with_message(mut row: RoomSummary, seq: u64, mentions_you: bool) -> RoomSummary {
        row.last_seq = seq;
        row.unread += 1;
        row.newest_unread = Some(Preview {
            seq,
            sender: Username::parse("bob").unwrap(),
            excerpt: format!("message {seq}"),
            mentions_you,
        });
        row
    }

    #[test]
    fn nothing_from_before_the_first_snapshot_and_once_per_message() {
        let mut notices = Notices::default();
        let dm = row(1, Visibility::Direct, NotifyLevel::All);
        // Rows before the snapshot, and the snapshot's own unread, are where things stand.
        assert_eq!(notices.on_row(&with_message(dm.clone(), 3, false)), None);
        assert_eq!(
            notices.on_snapshot([&with_message(dm.clone(), 4, false)]),
            []
        );
        assert_eq!(notices.on_row(&with_message(dm.clone(), 4, false)), None);
        let new = notices.on_row(&with_message(dm.clone(), 5, false)).unwrap();
        assert_eq!(
            new,
            Notice {
                room_id: RoomId(1),
                seq: 5,
                title: "bob".into(),
                body: "message 5".into(),
            }
        );
        // The same row again (a read mark elsewhere, a reconnect's snapshot): nothing new.
        assert_eq!(notices.on_row(&with_message(dm.clone(), 5, false)), None);
        assert_eq!(
            notices.on_snapshot([&with_message(dm.clone(), 5, false)]),
            []
        );
        // Read: no preview, nothing to say; the next message is new again.
        assert_eq!(notices.on_row(&dm), None);
        let next = notices.on_snapshot([&with_message(dm, 6, false)]);
        assert_eq!(next.iter().map(|n| n.seq).collect::<Vec<_>>(), [6]);
    }

    #[test]
    fn the_room_s_level_decides_and_a_room_new_to_the_list_counts_from_nothing() {
        let mut notices = Notices::default();
        notices.on_snapshot([]);
        let hall = row(2, Visibility::Public, NotifyLevel::Mentions);
        assert_eq!(notices.on_row(&with_message(hall.clone(), 1, false)), None);
        let mention = notices.on_row(&with_message(hall, 2, true)).unwrap();
        assert_eq!(mention.title, "bob in #hall");
        let muted = row(3, Visibility::Direct, NotifyLevel::Nothing);
        assert_eq!(notices.on_row(&with_message(muted.clone(), 1, true)), None);
        // A message passed over while muted is not notified when the level changes later.
        let mut loud = with_message(muted, 1, true);
        loud.notify = NotifyLevel::All;
        assert_eq!(notices.on_row(&loud), None);
    }

    #[test]
    fn a_mention_that_is_not_the_newest_message_still_notifies_at_the_mentions_level() {
        let mut notices = Notices::default();
        notices.on_snapshot([]);
        let hall = row(2, Visibility::Public, NotifyLevel::Mentions);
        // Two messages, the first mentioning you, arrive in one row.
        let mut row = with_message(with_message(hall.clone(), 1, false), 2, false);
        row.mentions = 1;
        let notice = notices.on_row(&row).unwrap();
        assert_eq!(notice.seq, 2);
        assert_eq!(notice.body, "You were mentioned. Newest: message 2");
        // More messages, no new mention: nothing.
        let mut later = with_message(row.clone(), 3, false);
        later.mentions = 1;
        assert_eq!(notices.on_row(&later), None);
        // Read in another tab (mentions back to 0), then a new plain message: nothing.
        let mut read = hall.clone();
        read.last_seq = 3;
        assert_eq!(notices.on_row(&read), None);
        assert_eq!(notices.on_row(&with_message(read, 4, false)), None);
    }
}
