//! Who is online, across nodes: this node's own sockets (counted in `HubState::online`) and
//! what the other nodes say of theirs (`HubState::remote`, kept by the relay on PostgreSQL).
//!
//! Why presence frames are checked against it: a person with a tab on two nodes who closes one
//! must not be shown offline. Every node announces only its own changes (first socket opened,
//! last one closed), so a frame is handed to listeners only when it agrees with what this node
//! knows of every node: the "offline" of the tab that closed is dropped while another node still
//! has the person online.
//!
//! Best effort, as the bus is: what other nodes say arrives with their presence events, and in
//! full from each node's row of online people in the database (written within a second of a
//! change, read every `bus::postgres::PRESENCE_EVERY` and at start), which also forgets a node
//! that stopped writing. A snapshot can be a moment older than an event it replaces; the next
//! event or snapshot puts it right.

use super::Hub;
use crate::fasthash::{FastMap, FastSet};
use app::model::UserId;

impl Hub {
    /// Whether `user` has a socket here or, as far as this node knows, on another node.
    pub fn is_online(&self, user: UserId) -> bool {
        let state = self.lock();
        state.online.contains_key(&user) || state.remote.contains_key(&user)
    }

    /// Whether `user` has a socket on this node (what this node announces; see the module docs).
    pub fn has_socket_here(&self, user: UserId) -> bool {
        self.lock().online.contains_key(&user)
    }

    /// The people with a socket on this node, and the count of changes that made it so (the
    /// same count: the same people).
    pub fn online_here(&self) -> (u64, Vec<UserId>) {
        let state = self.lock();
        (
            state.presence_changes,
            state.online.keys().copied().collect(),
        )
    }

    /// The count [`Hub::online_here`] answers with, alone.
    pub fn presence_changes(&self) -> u64 {
        self.lock().presence_changes
    }

    /// Node `node` says `user` came online there, or went offline there.
    pub fn remote_presence(&self, node: &str, user: UserId, online: bool) {
        let mut state = self.lock();
        if online {
            state.remote.entry(user).or_default().insert(node.into());
        } else if let Some(nodes) = state.remote.get_mut(&user) {
            nodes.remove(node);
            if nodes.is_empty() {
                state.remote.remove(&user);
            }
        }
    }

    /// What every other node said in full: who is online on it. Replaces all this node knew of
    /// other nodes (a node not in `nodes` has nobody online).
    pub fn remote_snapshot(&self, nodes: Vec<(String, Vec<UserId>)>) {
        let mut remote: FastMap<UserId, FastSet<Box<str>>> = FastMap::default();
        for (node, users) in nodes {
            let node: Box<str> = node.into();
            for user in users {
                remote.entry(user).or_default().insert(node.clone());
            }
        }
        self.lock().remote = remote;
    }
}
