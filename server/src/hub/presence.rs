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
//! that stopped writing. A snapshot can be a moment older than an event (a row is rewritten a
//! moment after the change), so it does not undo what an event said just before; and what a
//! snapshot does change (a node that stopped without a word, an event lost) is announced to the
//! person's rooms, since no event did.

use super::Hub;
use crate::fasthash::{FastMap, FastSet};
use app::model::UserId;
use std::time::{Duration, Instant};

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
        state.remote_heard.insert(user, Instant::now());
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
    /// other nodes (a node not in `nodes` has nobody online), except for people an event told of
    /// within `settle` (the snapshot may be older than the event: a node rewrites its row a
    /// moment after a change). Answers who came online or went offline by it: no event said so
    /// (a node that stopped without a word, an event lost), so their rooms' listeners have heard
    /// nothing yet (see `bus::postgres`).
    pub fn remote_snapshot(
        &self,
        nodes: Vec<(String, Vec<UserId>)>,
        settle: Duration,
    ) -> Vec<(UserId, bool)> {
        let mut remote: FastMap<UserId, FastSet<Box<str>>> = FastMap::default();
        for (node, users) in nodes {
            let node: Box<str> = node.into();
            for user in users {
                remote.entry(user).or_default().insert(node.clone());
            }
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        state
            .remote_heard
            .retain(|_, heard| heard.elapsed() < settle);
        for user in state.remote_heard.keys() {
            match state.remote.get(user) {
                Some(nodes) => remote.insert(*user, nodes.clone()),
                None => remote.remove(user),
            };
        }
        let old = std::mem::replace(&mut state.remote, remote);
        let gone = old.keys().filter(|user| !state.remote.contains_key(user));
        let came = state.remote.keys().filter(|user| !old.contains_key(user));
        gone.map(|user| (*user, false))
            .chain(came.map(|user| (*user, true)))
            .filter(|(user, _)| !state.online.contains_key(user))
            .collect()
    }
}
