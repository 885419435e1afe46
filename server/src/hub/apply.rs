//! What a bus event does to this node's hub: the one mechanism behind revocation on leave,
//! sign-out and "sign out everywhere", and behind presence and typing. Used by the in-process
//! bus when an event is published, and by a cross-node bus for events from other nodes.
//!
//! Every event is idempotent here (a second revocation, end or resync finds nothing new to
//! do, and a repeated hint is a repeated hint), as the bus contract requires.

use super::Hub;
use crate::bus::BusEvent;
use app::protocol::ServerFrame;

impl Hub {
    pub fn apply(&self, event: &BusEvent) {
        match event {
            BusEvent::MembershipChanged {
                room,
                user,
                member,
                through,
            } => {
                // After a join nothing is listening yet (a socket subscribes itself); after
                // anything else, the room's delivery to the user ends.
                if !member {
                    self.revoke_room(*room, *user, *through);
                }
                self.row_changed(*room, *user);
            }
            BusEvent::OwnRowChanged { room, user } => self.row_changed(*room, *user),
            BusEvent::RoomCreated { room, people } => {
                for user in people {
                    self.row_changed(*room, *user);
                }
            }
            BusEvent::RoomSettingsChanged { room } => self.room_row_changed(*room),
            BusEvent::SessionEnded { session } => self.end_session(session),
            BusEvent::UserSignedOut { user } => self.end_user(*user),
            BusEvent::Presence {
                room,
                user,
                user_id,
                online,
            } => {
                // Offline here but online on another node (or the reverse): not news.
                if *online != self.is_online(*user_id) {
                    return;
                }
                let frame = ServerFrame::Presence {
                    room_id: *room,
                    user: user.clone(),
                    online: *online,
                };
                self.announce(*room, &frame, None);
            }
            BusEvent::Typing { room, user, from } => {
                let frame = ServerFrame::Typing {
                    room_id: *room,
                    user: user.clone(),
                };
                self.announce(*room, &frame, *from);
            }
            BusEvent::Resync => self.resync(),
        }
    }
}
