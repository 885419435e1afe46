//! A room's message window: the part of its history the tab holds, bounded to [`WINDOW`]
//! messages whatever the room's size, and the resume cursor, which is not.
//!
//! Why a window: a room left open through a busy evening used to keep (and render) every
//! message it ever received. The window keeps the newest [`WINDOW`] at most while the reader
//! follows the conversation (dropping its oldest [`TRIM`] at once when it passes the bound, so
//! that most redraws only add rows), and an older stretch while they read back; the page renders
//! only what the window holds, so memory and DOM stay bounded.
//!
//! What it promises:
//! - **Contiguous.** The held seqs have no hole: messages come in from the newest history page,
//!   from older pages directly below the oldest held, and live in seq order after the newest.
//!   A seq held twice (an ack, then its broadcast; a replay) is kept once.
//! - **Gapless resume.** [`Window::cursor`] is the newest seq received, held or not; a
//!   resubscribe names it, so the server replays exactly what came after. Dropping messages
//!   from the window never moves it back.
//! - **Bounded while reading back.** When the reader pages back past [`WINDOW`] messages the
//!   newest are dropped and the window is *detached*: live messages only move the cursor, and
//!   the page shows how many are newer than what it holds ([`Window::unseen`]). The same
//!   happens when the window is full, the reader is not at the bottom and a message arrives.
//!   [`Window::jump_to_latest`] attaches it again, empty; the page then loads the newest history
//!   page below whatever arrived live meanwhile (so nothing falls between the two).
//! - **Edits and deletions show in place.** An edit replaces a held message's text when it is
//!   newer than the one it shows (a history page already shows the newest edit; an older edit
//!   in a page changes nothing); a deletion empties it, and the page shows "message deleted"
//!   ([`Window::is_deleted`]). A deleted message from a history page (read back as erased)
//!   is held the same way, so the list has no hole where it was.
//! - **Reactions show in place** the same way: a live reaction changes a held message's
//!   reactions unless what it shows is newer ([`crate::reactions::Reactions::apply`]).
//! - **A flood is drawn as far as it can be seen.** When more live messages arrive between two
//!   of the page's redraws than its view shows, the ones that would scroll past before anyone
//!   could see them are held but not drawn ([`Window::skip_unseen`], [`Window::drawn`]): reading
//!   back draws them first ([`Window::reveal`]), and quotes, edits and reactions find them as
//!   before. In a busy room most of the page's work was building rows nobody saw.
//!
//! Longer than 400 lines on purpose (about 440 without its tests): the promises above are
//! invariants of one structure, and its tests check them against each other.

use crate::model::{ChatMessage, Edited};
use crate::timeline::{EditEvent, Entry, ErasedEntry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most messages a room holds (and renders) at once: three history pages (the page loads
/// 100 at a time, each time the reader scrolls near the top), a few screens of scroll-back,
/// while its DOM (about eight nodes a message) stays near 2,500 nodes.
pub const WINDOW: usize = 300;

/// How many of its oldest messages a following window drops at once when a live message takes
/// it past [`WINDOW`]. Why in steps: a list that loses its top row with every new message has
/// every row move on every redraw (the browser lays out and repaints the whole list); one that
/// only grows at the bottom between trims redraws just the new rows, and the view scrolls.
const TRIM: usize = 100;

/// The most messages not held whose edits, deletions and reactions a window keeps for when
/// they come.
const PENDING_REVISIONS: usize = 256;
/// The most of them kept for one message, the newest (someone toggling a reaction on an old
/// message nobody has loaded must not grow every viewer's tab).
const PENDING_PER_MESSAGE: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct Window {
    held: BTreeMap<u64, Arc<ChatMessage>>,
    /// Edits and deletions that arrived for messages not held (a page holding them may be on its
    /// way, read before them), by the message's seq: applied when it comes. The newest
    /// [`PENDING_REVISIONS`] targets.
    pending: BTreeMap<u64, Vec<Entry>>,
    /// The newest seq received from the server, held or not.
    cursor: u64,
    /// The held messages are an older stretch: live messages are not added.
    detached: bool,
    /// The lowest seq the held stretch covers when it is below the oldest held message: the
    /// entries just below it were read and are not messages (joins, say), or there are none
    /// (1). Without it, reading back from a message preceded only by joins would ask for the
    /// same page for ever.
    floor: Option<u64>,
    /// Live messages taken since the last redraw ([`Window::skip_unseen`]).
    fresh: usize,
    /// The list draws the held messages from this seq on; `None`: all of them.
    drawn_from: Option<u64>,
}

impl Window {
    /// The held messages, oldest first.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &Arc<ChatMessage>> + '_ {
        self.held.values()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.held.contains_key(&seq)
    }

    /// The held message `seq`, if it is held.
    pub fn get(&self, seq: u64) -> Option<&Arc<ChatMessage>> {
        self.held.get(&seq)
    }

    pub fn oldest_seq(&self) -> Option<u64> {
        self.held.keys().next().copied()
    }

    pub fn newest_seq(&self) -> Option<u64> {
        self.held.keys().next_back().copied()
    }

    /// Where the held stretch starts, counting entries read that are not shown: reading back
    /// asks for what is below it, and 1 (or nothing held) is the room's start.
    pub fn start(&self) -> Option<u64> {
        match (self.floor, self.oldest_seq()) {
            (Some(floor), Some(oldest)) => Some(floor.min(oldest)),
            (floor, oldest) => floor.or(oldest),
        }
    }

    /// The newest seq received (0 before any): where a resubscribe resumes from.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Whether the window shows an older stretch, not the newest messages.
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// How many received messages are newer than the newest held.
    pub fn unseen(&self) -> u64 {
        self.cursor - self.newest_seq().unwrap_or(self.cursor).min(self.cursor)
    }

    /// A stored message from the socket (live, replayed, or our own ack). `following` says
    /// whether the reader is at the newest message: then the oldest is dropped to make room;
    /// otherwise a full window detaches instead of scrolling away what they read.
    pub fn push_live(&mut self, message: ChatMessage, following: bool) {
        self.cursor = self.cursor.max(message.seq);
        if self.detached || self.held.contains_key(&message.seq) {
            return;
        }
        if self.held.len() >= WINDOW && !following {
            self.detached = true;
            return;
        }
        let seq = message.seq;
        self.held.insert(seq, Arc::new(message));
        self.fresh += 1;
        self.apply_pending(seq);
        if self.held.len() > WINDOW {
            self.drop_oldest_down_to(WINDOW - TRIM);
        }
    }

    /// The page is about to redraw the live end. `view_rows` is how many rows its view shows
    /// at most, when the reader follows the newest message (`None` when they do not, or it is
    /// not known). If more live messages came since the last redraw than that, the older ones
    /// would scroll past unseen within this one redraw: from now on only the newest
    /// `view_rows` are drawn. Nothing held is dropped.
    pub fn skip_unseen(&mut self, view_rows: Option<usize>) {
        let fresh = std::mem::take(&mut self.fresh);
        match view_rows {
            Some(rows) if !self.detached && fresh > rows && rows > 0 => {
                self.drawn_from = self.held.keys().nth_back(rows - 1).copied();
            }
            _ => {}
        }
    }

    /// The held messages the list draws, oldest first: all of them, or the newest since a
    /// flood ([`Window::skip_unseen`]) until reading back reveals the rest.
    pub fn drawn(&self) -> impl DoubleEndedIterator<Item = &Arc<ChatMessage>> + '_ {
        self.held
            .range(self.drawn_from.unwrap_or(0)..)
            .map(|(_, m)| m)
    }

    /// The oldest seq drawn.
    pub fn oldest_drawn_seq(&self) -> Option<u64> {
        self.drawn().next().map(|m| m.seq)
    }

    /// Whether some held messages are not drawn (below the oldest drawn).
    pub fn is_partly_drawn(&self) -> bool {
        self.oldest_drawn_seq() != self.oldest_seq()
    }

    /// Draws up to `count` more of the held messages below the oldest drawn (reading back);
    /// all of them once that reaches the oldest held.
    pub fn reveal(&mut self, count: usize) {
        let Some(from) = self.drawn_from else { return };
        self.drawn_from = self
            .held
            .range(..from)
            .nth_back(count.saturating_sub(1))
            .map(|(&seq, _)| seq);
        if self.drawn_from <= self.oldest_seq() {
            self.drawn_from = None;
        }
    }

    /// Draws every held message (a jump to one of them).
    pub fn draw_all(&mut self) {
        self.drawn_from = None;
    }

    /// A deleted message replayed (erased) after a reconnect: held as its placeholder like a
    /// live message; an erased entry that was no message only moves the cursor.
    pub fn push_erased(&mut self, erased: ErasedEntry, following: bool) {
        let seq = erased.seq;
        match placeholder(erased) {
            Some(message) => self.push_live(message, following),
            None => self.pass(seq),
        }
    }

    /// A timeline entry that is not a message (someone joined or left) arrived: nothing is
    /// shown in the list, but the resume cursor moves past its seq.
    pub fn pass(&mut self, seq: u64) {
        self.cursor = self.cursor.max(seq);
    }

    /// Whether a held message was deleted: a message's text is never empty (see
    /// [`crate::model::MessageBody`]), so a held one with none is a deletion's placeholder.
    pub fn is_deleted(message: &ChatMessage) -> bool {
        message.content.is_empty()
    }

    /// An edit, a deletion or a reaction of a message, live or from a page: the held message
    /// it names shows it. Answers whether anything held changed (the caller redraws).
    pub fn revise(&mut self, entry: &Entry) -> bool {
        let target = match entry {
            Entry::Edit(edit) => edit.target_seq,
            Entry::MessageDeleted(deletion) => deletion.target_seq,
            Entry::Reaction(reaction) => reaction.target_seq,
            _ => return false,
        };
        if !self.held.contains_key(&target) {
            let waiting = self.pending.entry(target).or_default();
            if waiting.len() >= PENDING_PER_MESSAGE {
                waiting.remove(0);
            }
            waiting.push(entry.clone());
            while self.pending.len() > PENDING_REVISIONS {
                self.pending.pop_first();
            }
            return false;
        }
        match entry {
            Entry::Edit(edit) => self.edit(edit),
            Entry::MessageDeleted(deletion) => match self.held.get_mut(&deletion.target_seq) {
                Some(held) if !Self::is_deleted(held) => {
                    *held = Arc::new(deleted(held));
                    true
                }
                _ => false,
            },
            Entry::Reaction(reaction) => match self.held.get_mut(&reaction.target_seq) {
                Some(held) if !Self::is_deleted(held) => {
                    let shown = held.reactions.as_ref().map_or(0, |r| r.seq);
                    if reaction.seq <= shown {
                        return false;
                    }
                    Arc::make_mut(held)
                        .reactions
                        .get_or_insert_with(Default::default)
                        .apply(reaction.seq, &reaction.emoji, &reaction.sender, reaction.on)
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Applies what arrived for message `seq` before it was held.
    fn apply_pending(&mut self, seq: u64) {
        for revision in self.pending.remove(&seq).unwrap_or_default() {
            self.revise(&revision);
        }
    }

    fn edit(&mut self, edit: &EditEvent) -> bool {
        let Some(held) = self.held.get_mut(&edit.target_seq) else {
            return false;
        };
        let newer = held.edited.is_none_or(|shown| shown.seq < edit.seq);
        if Self::is_deleted(held) || !newer {
            return false;
        }
        let message = Arc::make_mut(held);
        message.content.clone_from(&edit.content);
        message.edited = Some(Edited {
            seq: edit.seq,
            ts: edit.ts,
        });
        true
    }

    /// The newest history page, as a room page opens. A window whose newest message is older
    /// than the page (it stopped listening meanwhile), or which is detached, cannot be joined
    /// to it without a hole, so it starts again from the page.
    pub fn absorb_newest_page(&mut self, page: Vec<Entry>) {
        let Some(first) = page.first().map(Entry::seq) else {
            return;
        };
        self.drawn_from = None;
        let hole = self.newest_seq().is_some_and(|newest| first > newest + 1);
        if hole || self.detached || self.held.is_empty() {
            self.held.clear();
            self.detached = false;
            self.floor = Some(first);
        }
        self.hold_newer(page);
        self.drop_oldest_beyond_window();
    }

    /// An older history page, the messages just below the oldest held. To stay bounded the
    /// window then drops its newest beyond [`WINDOW`], and is detached if it did.
    pub fn absorb_older(&mut self, page: Vec<Entry>) {
        self.drawn_from = None;
        // What it reached down to, shown or not; nothing below the request is the room's start.
        let reached = page.first().map_or(1, Entry::seq);
        self.floor = Some(self.start().map_or(reached, |start| start.min(reached)));
        self.hold(page);
        while self.held.len() > WINDOW {
            self.held.pop_last();
            self.detached = true;
        }
    }

    /// A page of history the reader jumped to (the first unread, say): the window holds only
    /// it, detached from the live end unless the page reaches the newest received. Live
    /// messages then only move the cursor, and "Jump to latest" comes back.
    pub fn show_stretch(&mut self, page: Vec<Entry>) {
        let Some(newest) = page.iter().map(Entry::seq).max() else {
            return;
        };
        self.held.clear();
        self.drawn_from = None;
        self.floor = page.first().map(Entry::seq);
        if newest >= self.cursor {
            self.detached = false;
            self.hold_newer(page);
        } else {
            self.detached = true;
            self.hold(page);
        }
        self.drop_oldest_beyond_window();
    }

    /// Empties a detached window and attaches it to the live end again. The caller then loads
    /// the newest history page *below* what arrives live from now on
    /// ([`Window::absorb_below`]), which is gapless whatever arrives while that page loads.
    pub fn jump_to_latest(&mut self) {
        self.held.clear();
        self.drawn_from = None;
        self.detached = false;
        self.floor = None;
    }

    /// A history page loaded for [`Window::jump_to_latest`]: the newest messages up to the
    /// request. Live messages that arrived meanwhile are already held and are newer, or the
    /// same (kept once). A page that does not reach the oldest of them (the server answered
    /// from a stale cache) is left out rather than leave a hole; scrolling up fetches it.
    pub fn absorb_below(&mut self, page: Vec<Entry>) {
        let reaches = match (page.last(), self.oldest_seq()) {
            (Some(last), Some(oldest)) => last.seq() + 1 >= oldest,
            _ => true,
        };
        if !reaches {
            return;
        }
        self.hold_newer(page);
        self.drop_oldest_beyond_window();
    }

    /// The server resumed with only its newest messages (`first_seq`): what is held from
    /// before that hole is dropped, so the window stays contiguous.
    pub fn forget_before(&mut self, first_seq: u64) {
        self.held.retain(|seq, _| *seq >= first_seq);
        self.floor = self.floor.map(|floor| floor.max(first_seq));
        if self.detached && self.held.is_empty() {
            self.detached = false;
        }
    }

    /// The page showing this window went away: a detached window is emptied and attached, so
    /// it keeps the newest messages while nobody reads it.
    pub fn unwatched(&mut self) {
        if self.detached {
            self.jump_to_latest();
        }
    }

    /// Holds every message of `page` not held yet (a seq is held once), a deleted one as its
    /// placeholder, then applies the page's edits and deletions to what is held. Other entries
    /// (joins, leaves) are not shown in the list.
    fn hold(&mut self, page: Vec<Entry>) {
        let mut revisions = Vec::new();
        for entry in page {
            let message = match entry {
                Entry::Message(message) => message,
                Entry::Erased(erased) => match placeholder(erased) {
                    Some(message) => message,
                    None => continue,
                },
                Entry::Edit(_) | Entry::MessageDeleted(_) | Entry::Reaction(_) => {
                    revisions.push(entry);
                    continue;
                }
                _ => continue,
            };
            let seq = message.seq;
            match self.held.get_mut(&seq) {
                // A page read after what is held shows a newer edit, or the deletion.
                Some(held) => merge(held, message),
                None => {
                    self.held.insert(seq, Arc::new(message));
                    self.apply_pending(seq);
                }
            }
        }
        for revision in &revisions {
            self.revise(revision);
        }
    }

    /// [`Window::hold`] for a page at or past the live end: the resume cursor moves up to it.
    fn hold_newer(&mut self, page: Vec<Entry>) {
        if let Some(newest) = page.iter().map(Entry::seq).max() {
            self.cursor = self.cursor.max(newest);
        }
        self.hold(page);
    }

    fn drop_oldest_beyond_window(&mut self) {
        self.drop_oldest_down_to(WINDOW);
    }

    fn drop_oldest_down_to(&mut self, len: usize) {
        while self.held.len() > len {
            self.held.pop_first();
            // The stretch now starts at its oldest held message.
            self.floor = None;
        }
    }
}

/// Takes from `page`'s copy of a message what it shows newer than the `held` one: its
/// deletion, a later edit, later reactions (each on its own: a live edit may be newer than
/// the page while the page's reactions are newer than what is held).
fn merge(held: &mut Arc<ChatMessage>, page: ChatMessage) {
    if Window::is_deleted(held) {
        return;
    }
    if Window::is_deleted(&page) {
        *held = Arc::new(page);
        return;
    }
    let edited = page.edited.map(|e| e.seq) > held.edited.map(|e| e.seq);
    let reacted = |m: &ChatMessage| m.reactions.as_ref().map(|r| r.seq);
    let reactions = reacted(&page) > reacted(held);
    if edited || reactions {
        let held = Arc::make_mut(held);
        if edited {
            held.content = page.content;
            held.edited = page.edited;
        }
        if reactions {
            held.reactions = page.reactions;
        }
    }
}

/// What a deleted message is held as: where it was, and who wrote it, without its text.
fn deleted(message: &ChatMessage) -> ChatMessage {
    ChatMessage {
        content: String::new(),
        edited: None,
        reactions: None,
        ..message.clone()
    }
}

/// The placeholder of a deleted message read back erased (an erased entry with no sender was
/// no message anyone can be shown).
fn placeholder(erased: ErasedEntry) -> Option<ChatMessage> {
    Some(ChatMessage {
        room_id: erased.room_id,
        seq: erased.seq,
        id: erased.id,
        sender: erased.sender?,
        content: String::new(),
        ts: erased.ts,
        client_id: erased.client_id.unwrap_or_default(),
        edited: None,
        reply_to: None,
        reactions: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RoomId, Username};

    fn message(seq: u64) -> ChatMessage {
        ChatMessage {
            room_id: RoomId(1),
            seq,
            id: seq + 1000,
            sender: Username::parse("ben").expect("valid test name"),
            content: format!("message {seq}"),
            ts: 0,
            client_id: format!("b{seq}"),
            edited: None,
            reply_to: None,
            reactions: None,
        }
    }

    fn page(seqs: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        seqs.map(|seq| Entry::Message(message(seq))).collect()
    }

    fn held(window: &Window) -> Vec<u64> {
        window.messages().map(|m| m.seq).collect()
    }

    fn contiguous(window: &Window) -> bool {
        let seqs = held(window);
        seqs.windows(2).all(|pair| pair[1] == pair[0] + 1)
    }

    #[test]
    fn a_jump_to_an_older_stretch_detaches_and_keeps_the_cursor_then_latest_comes_back() {
        let mut window = Window::default();
        window.absorb_newest_page(page(401..=500));
        window.show_stretch(page(100..=199));
        assert_eq!(held(&window).first(), Some(&100));
        assert!(window.is_detached() && contiguous(&window));
        assert_eq!((window.cursor(), window.unseen()), (500, 301));
        // Live messages only move the cursor; the resume point never went back.
        window.push_live(message(501), true);
        assert_eq!((window.cursor(), window.newest_seq()), (501, Some(199)));
        // A stretch that reaches the live end is attached again.
        window.show_stretch(page(450..=501));
        assert!(!window.is_detached());
        window.push_live(message(502), true);
        assert_eq!(window.newest_seq(), Some(502));
        // An empty page changes nothing.
        window.show_stretch(Vec::new());
        assert_eq!(window.newest_seq(), Some(502));
    }

    #[test]
    fn a_message_delivered_twice_is_held_once_in_seq_order() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=2));
        window.push_live(message(2), true);
        window.push_live(message(3), true);
        assert_eq!(held(&window), [1, 2, 3]);
        assert_eq!(window.cursor(), 3);
    }

    #[test]
    fn a_following_reader_keeps_the_newest_window_and_the_cursor_keeps_counting() {
        let mut window = Window::default();
        for seq in 1..=5_000 {
            window.push_live(message(seq), true);
            assert!(window.len() <= WINDOW);
        }
        // Trimmed in steps: from WINDOW + 1 down to WINDOW - TRIM.
        assert!((WINDOW - TRIM..=WINDOW).contains(&window.len()));
        assert_eq!(window.oldest_seq(), Some(5_000 - window.len() as u64 + 1));
        assert!(contiguous(&window));
        assert_eq!(window.cursor(), 5_000);
        assert!(!window.is_detached());
    }

    fn drawn(window: &Window) -> Vec<u64> {
        window.drawn().map(|m| m.seq).collect()
    }

    #[test]
    fn a_flood_draws_only_what_the_view_can_show_and_reading_back_draws_the_rest() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=100));
        // Twenty rows arrived for a view of thirty: all drawn.
        for seq in 101..=120 {
            window.push_live(message(seq), true);
        }
        window.skip_unseen(Some(30));
        assert_eq!(drawn(&window), (1..=120).collect::<Vec<_>>());
        // Fifty for a view of thirty: the twenty that would scroll past unseen are not drawn,
        // and neither is anything older; all of it is still held.
        for seq in 121..=170 {
            window.push_live(message(seq), true);
        }
        window.skip_unseen(Some(30));
        assert_eq!(drawn(&window), (141..=170).collect::<Vec<_>>());
        assert_eq!(held(&window), (1..=170).collect::<Vec<_>>());
        assert!(window.is_partly_drawn() && window.get(5).is_some());
        // The count starts again at each redraw; what comes later is drawn.
        window.push_live(message(171), true);
        window.skip_unseen(Some(30));
        assert_eq!(window.oldest_drawn_seq(), Some(141));
        assert_eq!(window.drawn().count(), 31);
        // Reading back draws a page more at a time, then everything.
        window.reveal(100);
        assert_eq!(window.oldest_drawn_seq(), Some(41));
        window.reveal(100);
        assert_eq!(drawn(&window), held(&window));
        assert!(!window.is_partly_drawn());
        // A jump draws everything at once.
        for seq in 172..=250 {
            window.push_live(message(seq), true);
        }
        window.skip_unseen(Some(30));
        assert!(window.is_partly_drawn());
        window.draw_all();
        assert_eq!(drawn(&window), held(&window));
    }

    #[test]
    fn a_reader_who_does_not_follow_or_reads_back_has_every_row_drawn() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=100));
        for seq in 101..=200 {
            window.push_live(message(seq), false);
        }
        window.skip_unseen(None);
        assert_eq!(drawn(&window), held(&window));
        // Detached (paged back past the window): live messages are not held, all drawn.
        window.show_stretch(page(10..=60));
        for seq in 201..=300 {
            window.push_live(message(seq), true);
        }
        window.skip_unseen(Some(30));
        assert_eq!(drawn(&window), (10..=60).collect::<Vec<_>>());
        // An older page read back is drawn with everything held.
        let mut flooded = Window::default();
        flooded.absorb_newest_page(page(101..=120));
        for seq in 121..=200 {
            flooded.push_live(message(seq), true);
        }
        flooded.skip_unseen(Some(30));
        flooded.absorb_older(page(1..=100));
        assert_eq!(drawn(&flooded), (1..=200).collect::<Vec<_>>());
    }

    #[test]
    fn a_reader_scrolled_up_is_not_pushed_along_once_the_window_is_full() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=WINDOW as u64));
        for seq in WINDOW as u64 + 1..=WINDOW as u64 + 40 {
            window.push_live(message(seq), false);
        }
        assert!(window.is_detached());
        assert_eq!(window.newest_seq(), Some(WINDOW as u64));
        assert_eq!(window.unseen(), 40);
        assert_eq!(window.cursor(), WINDOW as u64 + 40);
    }

    #[test]
    fn a_reader_scrolled_up_still_sees_new_messages_while_the_window_has_room() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=150));
        window.push_live(message(151), false);
        assert_eq!(window.newest_seq(), Some(151));
        assert!(!window.is_detached());
    }

    #[test]
    fn paging_back_past_the_window_drops_the_newest_and_keeps_the_cursor() {
        let mut window = Window::default();
        window.absorb_newest_page(page(901..=1000));
        window.absorb_older(page(801..=900));
        window.absorb_older(page(701..=800));
        assert!(!window.is_detached());
        window.absorb_older(page(601..=700));
        assert_eq!(window.len(), WINDOW);
        assert_eq!(held(&window).first(), Some(&601));
        assert_eq!(window.newest_seq(), Some(900));
        assert!(window.is_detached());
        assert_eq!(window.cursor(), 1000);
        assert_eq!(window.unseen(), 100);
        // Live messages only count while detached.
        window.push_live(message(1001), true);
        assert_eq!(window.newest_seq(), Some(900));
        assert_eq!(window.unseen(), 101);
    }

    #[test]
    fn jumping_to_the_latest_is_gapless_whatever_arrives_while_the_page_loads() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=WINDOW as u64));
        window.push_live(message(WINDOW as u64 + 1), false);
        assert!(window.is_detached());
        window.jump_to_latest();
        // Two messages arrive while the newest page is on its way; the page was read after
        // the first of them was stored.
        window.push_live(message(302), false);
        window.push_live(message(303), false);
        window.absorb_below(page(203..=302));
        assert_eq!(held(&window).first(), Some(&203));
        assert_eq!(window.newest_seq(), Some(303));
        assert!(contiguous(&window));
        assert!(!window.is_detached());
    }

    #[test]
    fn a_stale_page_after_a_jump_is_left_out_rather_than_leave_a_hole() {
        let mut window = Window::default();
        window.jump_to_latest();
        window.push_live(message(500), true);
        window.absorb_below(page(300..=400));
        assert_eq!(held(&window), [500]);
    }

    #[test]
    fn a_newest_page_past_a_hole_replaces_what_was_held() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=10));
        window.absorb_newest_page(page(50..=60));
        assert_eq!(held(&window), (50..=60).collect::<Vec<_>>());
        assert_eq!(window.cursor(), 60);
    }

    #[test]
    fn a_resume_with_a_hole_forgets_what_was_held_before_it() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=10));
        window.forget_before(500);
        assert!(window.is_empty());
        window.push_live(message(500), true);
        assert_eq!(held(&window), [500]);
    }

    #[test]
    fn an_unwatched_detached_window_follows_the_room_again() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=WINDOW as u64));
        window.push_live(message(WINDOW as u64 + 1), false);
        window.unwatched();
        window.push_live(message(WINDOW as u64 + 2), true);
        assert_eq!(held(&window), [WINDOW as u64 + 2]);
        assert_eq!(window.cursor(), WINDOW as u64 + 2);
    }

    fn edit(target: u64, seq: u64, text: &str) -> Entry {
        Entry::Edit(crate::timeline::EditEvent {
            room_id: RoomId(1),
            seq,
            id: seq + 1000,
            sender: Username::parse("ben").expect("valid test name"),
            ts: 5,
            client_id: format!("e{seq}"),
            target_seq: target,
            content: text.into(),
        })
    }

    fn deletion(target: u64, seq: u64) -> Entry {
        Entry::MessageDeleted(crate::timeline::MessageDeletedEvent {
            room_id: RoomId(1),
            seq,
            id: seq + 1000,
            sender: Username::parse("ben").expect("valid test name"),
            ts: 5,
            client_id: format!("d{seq}"),
            target_seq: target,
        })
    }

    fn text_of(window: &Window, seq: u64) -> Option<String> {
        window
            .messages()
            .find(|m| m.seq == seq)
            .map(|m| m.content.clone())
    }

    #[test]
    fn an_edit_shows_in_place_unless_what_is_shown_is_newer() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=3));
        assert!(window.revise(&edit(2, 5, "second edit")));
        assert_eq!(text_of(&window, 2).as_deref(), Some("second edit"));
        // An older edit (from a page read later) changes nothing; an unheld target neither.
        assert!(!window.revise(&edit(2, 4, "first edit")));
        assert!(!window.revise(&edit(9, 6, "elsewhere")));
        assert_eq!(text_of(&window, 2).as_deref(), Some("second edit"));
        assert_eq!(
            window
                .messages()
                .find(|m| m.seq == 2)
                .and_then(|m| m.edited)
                .map(|e| e.seq),
            Some(5)
        );
    }

    #[test]
    fn a_deleted_message_keeps_its_place_without_its_text() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=3));
        assert!(window.revise(&deletion(2, 4)));
        assert!(!window.revise(&deletion(2, 5)), "once");
        assert!(!window.revise(&edit(2, 6, "back")), "no edit after it");
        let deleted = window.messages().find(|m| m.seq == 2).unwrap();
        assert!(Window::is_deleted(deleted));
        assert_eq!(held(&window), [1, 2, 3]);
        // Read back from history it is erased, and held as the same placeholder; an erased
        // entry with no sender (a deleted edit) is nothing to show.
        let mut later = Window::default();
        let erased = |seq, sender: Option<&str>| {
            Entry::Erased(ErasedEntry {
                room_id: RoomId(1),
                seq,
                id: seq,
                ts: 0,
                sender: sender.map(|s| Username::parse(s).unwrap()),
                client_id: None,
            })
        };
        later.absorb_newest_page(vec![
            Entry::Message(message(1)),
            erased(2, Some("ben")),
            erased(3, None),
            edit(1, 4, "one, edited"),
        ]);
        assert_eq!(held(&later), [1, 2]);
        assert!(Window::is_deleted(later.messages().nth(1).unwrap()));
        assert_eq!(text_of(&later, 1).as_deref(), Some("one, edited"));
        assert_eq!(later.cursor(), 4);
    }

    #[test]
    fn a_revision_that_arrives_before_its_message_is_applied_when_it_comes() {
        let mut window = Window::default();
        window.absorb_newest_page(page(5..=6));
        // Live, while an older page read before them is on its way.
        assert!(!window.revise(&edit(3, 7, "three, edited")));
        assert!(!window.revise(&deletion(4, 8)));
        window.absorb_older(page(1..=4));
        assert_eq!(text_of(&window, 3).as_deref(), Some("three, edited"));
        assert!(Window::is_deleted(
            window.messages().find(|m| m.seq == 4).unwrap()
        ));
        // A page read after what is held shows its newer state; an older one changes nothing.
        let mut edited = message(5);
        edited.content = "five, edited".into();
        edited.edited = Some(Edited { seq: 9, ts: 0 });
        window.absorb_older(vec![Entry::Message(edited)]);
        assert_eq!(text_of(&window, 5).as_deref(), Some("five, edited"));
        window.absorb_older(vec![Entry::Message(message(5))]);
        assert_eq!(text_of(&window, 5).as_deref(), Some("five, edited"));
    }

    fn reaction(target: u64, seq: u64, who: &str, emoji: &str, on: bool) -> Entry {
        Entry::Reaction(crate::timeline::ReactionEvent {
            room_id: RoomId(1),
            seq,
            id: seq + 1000,
            sender: Username::parse(who).expect("valid test name"),
            ts: 5,
            client_id: format!("r{seq}"),
            target_seq: target,
            emoji: crate::reactions::Emoji::parse(emoji).expect("one of the set"),
            on,
        })
    }

    fn reactions_of(window: &Window, seq: u64) -> Vec<(String, usize)> {
        window
            .get(seq)
            .and_then(|m| m.reactions.clone())
            .map(|r| {
                r.emoji
                    .iter()
                    .map(|e| (e.emoji.to_string(), e.users.len()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn reactions_show_in_place_once_each_and_a_page_s_newer_state_wins() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1..=3));
        assert!(window.revise(&reaction(2, 4, "ana", "👍", true)));
        assert!(window.revise(&reaction(2, 5, "cyd", "👍", true)));
        // Delivered twice (a page read after it, then live): shown once.
        assert!(!window.revise(&reaction(2, 5, "cyd", "👍", true)));
        assert_eq!(reactions_of(&window, 2), [("👍".to_string(), 2)]);
        // A page read later shows more (ana took hers back, ben reacted): it wins, and the
        // live entries it already shows change nothing when they arrive after it.
        let mut later = message(2);
        let mut state = crate::reactions::Reactions::default();
        let up = crate::reactions::Emoji::parse("👍").unwrap();
        state.apply(5, &up, &Username::parse("cyd").unwrap(), true);
        state.apply(7, &up, &Username::parse("ben").unwrap(), true);
        later.reactions = Some(state);
        window.absorb_older(vec![Entry::Message(later)]);
        assert!(!window.revise(&reaction(2, 6, "ana", "👍", false)));
        assert_eq!(reactions_of(&window, 2), [("👍".to_string(), 2)]);
        // One for a message not held yet waits for it; a deleted message shows none.
        assert!(!window.revise(&reaction(1_000, 8, "ana", "😮", true)));
        window.push_live(message(1_000), true);
        assert_eq!(reactions_of(&window, 1_000), [("😮".to_string(), 1)]);
        assert!(window.revise(&deletion(2, 9)));
        assert!(reactions_of(&window, 2).is_empty());
        assert!(!window.revise(&reaction(2, 10, "ana", "👍", true)));
    }

    #[test]
    fn revisions_for_messages_not_held_are_kept_for_the_newest_targets_only() {
        let mut window = Window::default();
        window.absorb_newest_page(page(1_000..=1_001));
        let targets = PENDING_REVISIONS as u64 + 10;
        for target in 1..=targets {
            assert!(!window.revise(&edit(target, 2_000 + target, "later")));
        }
        assert_eq!(window.pending.len(), PENDING_REVISIONS);
        // The oldest targets were let go; the newest still wait for their message.
        window.absorb_older(page(1..=targets));
        assert_eq!(text_of(&window, 1).as_deref(), Some("message 1"));
        assert_eq!(text_of(&window, 10).as_deref(), Some("message 10"));
        assert_eq!(text_of(&window, 11).as_deref(), Some("later"));
        assert_eq!(text_of(&window, targets).as_deref(), Some("later"));
        assert!(window.pending.is_empty());
    }

    #[test]
    fn reading_back_past_entries_that_are_no_messages_reaches_the_start() {
        let member = |seq: u64| {
            Entry::Member(crate::timeline::MemberEvent {
                room_id: RoomId(1),
                seq,
                id: seq,
                sender: Username::parse("ana").unwrap(),
                ts: 0,
                client_id: format!("j{seq}"),
                user_id: crate::model::UserId(1),
                user: Username::parse("ana").unwrap(),
                membership: crate::timeline::Membership::Join,
                role: crate::model::Role::Member,
            })
        };
        let mut window = Window::default();
        window.absorb_newest_page(page(3..=5));
        assert_eq!(window.start(), Some(3));
        // The page below holds only joins: nothing to show, but read, so the start moves.
        window.absorb_older(vec![member(1), member(2)]);
        assert_eq!((window.oldest_seq(), window.start()), (Some(3), Some(1)));
        // A newest page that begins with joins starts there too.
        let mut fresh = Window::default();
        fresh.absorb_newest_page(vec![member(1), Entry::Message(message(2))]);
        assert_eq!(fresh.start(), Some(1));
        // Nothing below the request: the start of the room.
        let mut bare = Window::default();
        bare.absorb_newest_page(page(7..=8));
        bare.absorb_older(Vec::new());
        assert_eq!(bare.start(), Some(1));
        // Sliding on drops what was below: the stretch starts at its oldest message again.
        for seq in 9..=(WINDOW as u64 + 9) {
            bare.push_live(message(seq), true);
        }
        assert_eq!(bare.start(), bare.oldest_seq());
    }

    #[test]
    fn revisions_waiting_for_one_message_are_bounded_to_the_newest() {
        let mut window = Window::default();
        window.absorb_newest_page(page(100..=101));
        for seq in 1..=(PENDING_PER_MESSAGE as u64 + 8) {
            window.revise(&edit(7, 1_000 + seq, &format!("edit {seq}")));
        }
        let waiting = &window.pending[&7];
        assert_eq!(waiting.len(), PENDING_PER_MESSAGE);
        assert_eq!(waiting.first().map(Entry::seq), Some(1_009));
    }
}
