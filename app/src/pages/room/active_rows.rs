//! [`ActiveRows`]: which message rows the pointer or the keyboard focus is on, for the list's
//! listeners.
//!
//! Why the list listens and not each row: a busy room builds many rows a second and drops as
//! many, and five listeners a row (the pointer entering and leaving, the focus coming and going,
//! "⋯" clicked) were a fifth of what building one cost (BENCHMARKS.md, twelfth session). The list
//! has one of each; they find the row an event is in by its `data-seq`, and each row
//! ([`super::message`]) registers its signal here while it exists.

use leptos::prelude::*;
use std::collections::HashMap;

/// Each row's "the pointer or the focus is on it" signal, by seq. Bounded by the rows in the
/// list (the window).
#[derive(Clone, Copy)]
pub(super) struct ActiveRows(StoredValue<HashMap<u64, RwSignal<bool>>>);

impl ActiveRows {
    pub(super) fn new() -> Self {
        Self(StoredValue::new(HashMap::new()))
    }

    /// Row `seq`'s signal, until the row is gone. A row made anew (its message changed) registers
    /// before the old one is dropped, so the old one takes out only its own.
    pub(super) fn register(self, seq: u64, active: RwSignal<bool>) {
        self.0.update_value(|rows| {
            rows.insert(seq, active);
        });
        on_cleanup(move || {
            self.0.try_update_value(|rows| {
                if rows.get(&seq) == Some(&active) {
                    rows.remove(&seq);
                }
            });
        });
    }

    fn set(self, seq: u64, on: bool) {
        if let Some(active) = self.0.with_value(|rows| rows.get(&seq).copied()) {
            if active.get_untracked() != on {
                active.set(on);
            }
        }
    }

    /// The pointer entered a row (from outside it). A touch is no hover: a tap on "⋯" enters the
    /// row as well as clicks the button, and showing the actions on the first would have the
    /// click hide them again at once (on a phone the actions never opened).
    pub(super) fn pointer_over(self, ev: &leptos::ev::PointerEvent) {
        if let Some(seq) = by_mouse(ev).then(|| moved_between_rows(ev)).flatten() {
            self.set(seq, true);
        }
    }

    /// The pointer left a row (for somewhere outside it).
    pub(super) fn pointer_out(self, ev: &leptos::ev::PointerEvent) {
        if let Some(seq) = by_mouse(ev).then(|| moved_between_rows(ev)).flatten() {
            self.set(seq, false);
        }
    }

    /// The focus came into a row: its actions show.
    pub(super) fn focus_in(self, ev: &leptos::ev::FocusEvent) {
        if let Some(seq) = row_of(ev.target()) {
            self.set(seq, true);
        }
    }

    /// The focus left a row (moving within it keeps its actions).
    pub(super) fn focus_out(self, ev: &leptos::ev::FocusEvent) {
        let from = row_of(ev.target());
        if from.is_some() && from != row_of(ev.related_target()) {
            self.set(from.unwrap_or_default(), false);
        }
    }

    /// "⋯" was clicked: its row's actions show, or hide when they showed.
    pub(super) fn click(self, ev: &leptos::ev::MouseEvent) {
        let on_more = element_of(ev.target()).and_then(|el| el.closest(".msg-more").ok().flatten());
        if let Some(seq) = on_more.and_then(|more| row_of(Some(more.into()))) {
            if let Some(active) = self.0.with_value(|rows| rows.get(&seq).copied()) {
                active.update(|on| *on = !*on);
            }
        }
    }
}

fn by_mouse(ev: &leptos::ev::PointerEvent) -> bool {
    ev.pointer_type() == "mouse"
}

fn element_of(target: Option<leptos::web_sys::EventTarget>) -> Option<leptos::web_sys::Element> {
    target.and_then(|t| wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(t).ok())
}

/// The seq of the message row `target` is in.
fn row_of(target: Option<leptos::web_sys::EventTarget>) -> Option<u64> {
    element_of(target)?
        .closest("li[data-seq]")
        .ok()??
        .get_attribute("data-seq")?
        .parse()
        .ok()
}

/// The row a pointer over or out event concerns, when it moved between that row and something
/// outside it (not between the parts of one row).
fn moved_between_rows(ev: &leptos::ev::PointerEvent) -> Option<u64> {
    let seq = row_of(ev.target())?;
    (row_of(ev.related_target()) != Some(seq)).then_some(seq)
}
