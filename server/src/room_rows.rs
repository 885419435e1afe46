//! A room's row as one person's lists show it ([`RoomSummary`]): its name or people, its
//! newest seq and activity, the person's read mark, role or invitation, and what they have not
//! read. One definition, used by the server functions (`list_rooms`, the directory,
//! `room_info`) and by the user stream on the socket (`ws::user_stream`), so the sidebar and
//! the rooms page never disagree.
//!
//! Unread is O(1): the log index keeps a running count of messages per seq, so a row costs two
//! index reads (the head and the count), never a scan; the mentions of the viewer among them
//! one binary search more (the index keeps each name's mention seqs). The newest unread message's preview
//! comes from [`crate::newest`], which the publisher keeps current, so a busy room's rows do
//! not read the store either.

use crate::state::AppState;
use crate::store::rooms::{RoomView, Standing};
use crate::store::RoomHead;
use app::model::{Preview, RoomId, RoomSummary, UserInfo};

impl AppState {
    /// `room`'s row for `viewer`. A list has no error to give for one room, so a head the store
    /// cannot read shows as an empty room, and the cause is logged.
    pub async fn row(&self, room: RoomView, viewer: &UserInfo) -> RoomSummary {
        let RoomHead {
            last_seq,
            last_ts: last_activity,
            ..
        } = self.messages().head(room.id).await.unwrap_or_else(|e| {
            tracing::error!(room = %room.id, "reading a room's head failed: {e}");
            RoomHead::default()
        });
        // What you wrote, and what came before it, you have read.
        let read = room
            .viewer_last_read
            .map(|read| read.max(self.rooms().last_sent(viewer.id, room.id)));
        let unread = match read {
            Some(read) => self
                .messages()
                .messages_after(room.id, read)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(room = %room.id, "counting a room's unread failed: {e}");
                    0
                }),
            None => 0,
        };
        let mentions = match read {
            Some(read) if unread > 0 => self
                .messages()
                .mentions_after(room.id, &viewer.username, read)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(room = %room.id, "counting a room's mentions failed: {e}");
                    0
                }),
            _ => 0,
        };
        let newest_unread = if unread > 0 {
            self.newest()
                .newest(self.messages().as_ref(), room.id, last_seq)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(room = %room.id, "reading a room's newest message failed: {e}");
                    None
                })
                .filter(|message| read.is_some_and(|read| message.seq > read))
                .map(|message| Preview::of(&message, &viewer.username))
        } else {
            None
        };
        RoomSummary {
            id: room.id,
            name: room.name.as_str().to_owned(),
            topic: room.topic.as_str().to_owned(),
            member_count: room.member_count,
            is_member: room.viewer_last_read.is_some(),
            last_read_seq: read.unwrap_or(0),
            last_seq,
            last_activity,
            unread,
            mentions,
            visibility: room.visibility,
            role: match room.viewer {
                Standing::Member(role) => Some(role),
                _ => None,
            },
            invited: room.viewer == Standing::Invited,
            direct_with: room.direct_with,
            notify: room.viewer_notify,
            newest_unread,
        }
    }

    /// The rows of a list of rooms, in the order given.
    pub async fn rows(&self, rooms: Vec<RoomView>, viewer: &UserInfo) -> Vec<RoomSummary> {
        let mut rows = Vec::with_capacity(rooms.len());
        for room in rooms {
            rows.push(self.row(room, viewer).await);
        }
        rows
    }

    /// `room`'s row in `user`'s own list, if it is there: they are a member or invited.
    pub async fn own_row(&self, user: &UserInfo, room: RoomId) -> Option<RoomSummary> {
        let view = self.rooms().room(room, user.id).await.ok()?;
        match view.viewer {
            Standing::Member(_) | Standing::Invited => Some(self.row(view, user).await),
            Standing::Banned | Standing::Gone => None,
        }
    }
}
