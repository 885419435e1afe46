//! How often the page redraws while messages keep coming: the [`Pace`].
//!
//! Why it adapts: every redraw costs the browser about the same fixed work (style, layout and
//! paint of the list, the scroll that follows the newest message) however few messages it
//! brings, and a busy room's rows go by faster than anyone reads them. So while messages come
//! at a conversation's pace, each shows within [`BASE_GAP_MS`] (after a quiet spell at the next
//! frame); as the room gets busier, the page redraws less often, down to once per
//! [`MAX_GAP_MS`] when messages arrive at [`BUSY_RATE`] a second. At 100 messages a second a
//! redraw brings about fifty rows at once instead of ten, for a third less main thread
//! (BENCHMARKS.md, "The browser: a pace that follows the room, and the floor under it").
//!
//! Why it narrows again above that: each redraw builds the rows it brings in one task, and a
//! task holds up the reader's typing and clicks while it runs. So a redraw brings about
//! [`ROWS_PER_REDRAW`] at most (the gap is shorter in a faster room, never below
//! [`BASE_GAP_MS`]): at 300 messages a second the page redraws every 200 ms.
//!
//! What it never delays: the reader's own actions (their sends, a change in whether they may
//! post) are redrawn after [`BASE_GAP_MS`] at most, however busy the room, and the state
//! machine takes every frame at once (acks, cursors and resends never wait for a redraw).

/// The redraw spacing at a conversation's pace, and the most the reader's own actions wait.
pub const BASE_GAP_MS: f64 = 100.0;
/// The widest spacing, for a room at [`BUSY_RATE`] messages a second or more: a message in a
/// flood shows within half a second, when nobody reads single messages any more.
pub const MAX_GAP_MS: f64 = 500.0;
/// The arrival rate (messages a second) from which the page redraws at [`MAX_GAP_MS`]; between
/// the rate that fills [`BASE_GAP_MS`] with a few messages and this, the gap grows in step.
pub const BUSY_RATE: f64 = 100.0;

/// About the most rows one redraw brings while it can (one task of a few tens of milliseconds on
/// a slow machine; see the module docs).
pub const ROWS_PER_REDRAW: f64 = 60.0;

/// The spacing of redraws, following how fast messages arrive.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// When the page last redrew (ms, any clock that only moves forward).
    last_redraw: f64,
    /// Messages that arrived since then.
    arrived: u32,
    /// The spacing the last redraw set, from the rate it saw.
    gap: f64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            last_redraw: f64::NEG_INFINITY,
            arrived: 0,
            gap: BASE_GAP_MS,
        }
    }
}

impl Pace {
    /// A message arrived for a list on the page.
    pub fn arrived(&mut self) {
        self.arrived = self.arrived.saturating_add(1);
    }

    /// How long from `now` the queued redraw waits: the spacing the room's pace sets, or
    /// [`BASE_GAP_MS`] when the redraw shows the reader's own action (`own`). Zero when the
    /// spacing has passed since the last redraw (a message after a quiet spell shows at once).
    pub fn wait(&self, now: f64, own: bool) -> f64 {
        let gap = if own { BASE_GAP_MS } else { self.gap };
        (gap - (now - self.last_redraw)).max(0.0)
    }

    /// The page redraws at `now`: the next spacing follows from the rate since the last redraw.
    pub fn redrawn(&mut self, now: f64) {
        let seconds = (now - self.last_redraw) / 1000.0;
        let rate = if seconds > 0.0 {
            f64::from(self.arrived) / seconds
        } else {
            0.0
        };
        let for_liveness = (MAX_GAP_MS * rate / BUSY_RATE).clamp(BASE_GAP_MS, MAX_GAP_MS);
        let for_rows = if rate > 0.0 {
            (1000.0 * ROWS_PER_REDRAW / rate).max(BASE_GAP_MS)
        } else {
            MAX_GAP_MS
        };
        self.gap = for_liveness.min(for_rows);
        self.last_redraw = now;
        self.arrived = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pace after `redraws` redraws at the spacing it asks for, with `rate` messages a
    /// second arriving; returns it and the time of the last redraw.
    fn steady(rate: f64, redraws: usize) -> (Pace, f64) {
        let mut pace = Pace::default();
        let mut now = 0.0;
        pace.redrawn(now);
        for _ in 0..redraws {
            let wait = pace.wait(now, false).max(1.0);
            for _ in 0..(rate * wait / 1000.0).round() as u32 {
                pace.arrived();
            }
            now += wait;
            pace.redrawn(now);
        }
        (pace, now)
    }

    #[test]
    fn a_conversation_redraws_at_the_base_gap_a_busy_room_less_often() {
        for (rate, gap) in [
            (5.0, BASE_GAP_MS),
            (20.0, BASE_GAP_MS),
            (40.0, 200.0),
            (BUSY_RATE, MAX_GAP_MS),
        ] {
            let (pace, now) = steady(rate, 20);
            assert_eq!(pace.wait(now, false), gap, "at {rate} messages a second");
        }
    }

    #[test]
    fn a_faster_room_redraws_more_often_so_a_redraw_brings_a_bounded_number_of_rows() {
        for (rate, gap) in [(150.0, 400.0), (300.0, 200.0), (3_000.0, BASE_GAP_MS)] {
            let (pace, now) = steady(rate, 20);
            assert_eq!(pace.wait(now, false), gap, "at {rate} messages a second");
        }
    }

    #[test]
    fn the_readers_own_action_waits_the_base_gap_even_in_a_flood() {
        let (pace, now) = steady(BUSY_RATE, 20);
        assert_eq!(pace.wait(now, true), BASE_GAP_MS);
        assert_eq!(pace.wait(now + 60.0, true), BASE_GAP_MS - 60.0);
        assert_eq!(pace.wait(now + 60.0, false), MAX_GAP_MS - 60.0);
    }

    #[test]
    fn after_a_flood_a_quiet_spell_shows_the_next_message_at_once_and_the_gap_narrows() {
        let (mut pace, now) = steady(300.0, 20);
        // The flood stopped; one message two seconds later.
        let later = now + 2_000.0;
        pace.arrived();
        assert_eq!(pace.wait(later, false), 0.0);
        pace.redrawn(later);
        assert_eq!(pace.wait(later, false), BASE_GAP_MS);
    }

    #[test]
    fn the_first_redraw_is_at_once() {
        let mut pace = Pace::default();
        pace.arrived();
        assert_eq!(pace.wait(0.0, false), 0.0);
        assert_eq!(pace.wait(1e12, true), 0.0);
    }
}
