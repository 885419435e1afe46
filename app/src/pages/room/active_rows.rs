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

    fn signal(self, seq: u64) -> Option<RwSignal<bool>> {
        self.0.with_value(|rows| rows.get(&seq).copied())
    }

    fn set(self, seq: u64, on: bool) {
        if let Some(active) = self.signal(seq) {
            if active.get_untracked() != on {
                active.set(on);
            }
        }
    }

    /// The pointer entered a row (`on`) or left it, from or for somewhere outside it. A touch is
    /// no hover: a tap on "⋯" enters the row as well as clicks the button, and showing the
    /// actions on the first would have the click hide them again at once (on a phone the actions
    /// never opened).
    pub(super) fn pointer(self, ev: &leptos::ev::PointerEvent, on: bool) {
        if ev.pointer_type() != "mouse" {
            return;
        }
        if let Some(seq) = moved_between_rows(ev.target(), ev.related_target()) {
            self.set(seq, on);
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
        if let Some(seq) = moved_between_rows(ev.target(), ev.related_target()) {
            self.set(seq, false);
        }
    }

    /// "⋯" was clicked: its row's actions show, or hide when they showed.
    pub(super) fn click(self, ev: &leptos::ev::MouseEvent) {
        let on_more = element_of(ev.target()).and_then(|el| el.closest(".msg-more").ok().flatten());
        if let Some(active) = on_more.and_then(|more| self.signal(row_of(Some(more.into()))?)) {
            active.update(|on| *on = !*on);
        }
    }
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

/// The row of `target` when the pointer or the focus moved between it and `related` outside it
/// (not between the parts of one row).
fn moved_between_rows(
    target: Option<leptos::web_sys::EventTarget>,
    related: Option<leptos::web_sys::EventTarget>,
) -> Option<u64> {
    let seq = row_of(target)?;
    (row_of(related) != Some(seq)).then_some(seq)
}
