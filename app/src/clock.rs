//! Message times as people read them.
//!
//! The server cannot know the reader's time zone or locale, and the browser's first render must
//! match the server's HTML exactly, so every time is rendered twice: first as UTC `HH:MM` (the
//! same on both sides), then, once the page is hydrated ([`Hydrated`]), in the reader's locale.

use leptos::prelude::*;

/// Whether the page is hydrated: set by an `Effect` in [`crate::App`], so it is `false` during
/// the server render and the browser's first render, and `true` from then on.
#[derive(Debug, Clone, Copy)]
pub struct Hydrated(pub RwSignal<bool>);

impl Hydrated {
    pub fn expect() -> Self {
        expect_context::<Self>()
    }

    pub fn get(&self) -> bool {
        self.0.get()
    }

    pub fn get_untracked(&self) -> bool {
        self.0.get_untracked()
    }
}

const MS_PER_MINUTE: i64 = 60_000;
const MINUTES_PER_DAY: i64 = 1_440;

/// `HH:MM` of `ts` (ms since the epoch) in UTC.
pub fn utc_hh_mm(ts: i64) -> String {
    let minute_of_day = ts.div_euclid(MS_PER_MINUTE).rem_euclid(MINUTES_PER_DAY);
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// `ts` as an ISO 8601 UTC timestamp, for `<time datetime>`.
pub fn iso_utc(ts: i64) -> String {
    let days = ts.div_euclid(MS_PER_MINUTE * MINUTES_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let minute_of_day = ts.div_euclid(MS_PER_MINUTE).rem_euclid(MINUTES_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}Z",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const MS_PER_DAY: i64 = MS_PER_MINUTE * MINUTES_PER_DAY;

/// (year, month, day) to days since 1970-01-01: the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The first millisecond of the UTC day a `YYYY-MM-DD` date (as `<input type="date">` gives
/// it) names; `None` for anything else.
pub fn utc_day_start(date: &str) -> Option<i64> {
    let mut parts = date.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let valid = (1..=9999).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day);
    let days = days_from_civil(year, month, day);
    // 2023-02-31 is no date: it would come back as March.
    (valid && civil_from_days(days) == (year, month, day)).then_some(days * MS_PER_DAY)
}

/// The day (since 1970-01-01) `ts` falls on where the clock is `offset_minutes` behind UTC (as
/// `Date.getTimezoneOffset` says: positive west of Greenwich).
pub fn day_number(ts: i64, offset_minutes: i64) -> i64 {
    (ts - offset_minutes * MS_PER_MINUTE).div_euclid(MS_PER_DAY)
}

/// The reader's day of `ts`, for the list's date separators; `None` before hydration (the
/// server cannot know the reader's time zone, so separators appear only in the browser).
pub fn local_day(ts: i64, hydrated: bool) -> Option<i64> {
    #[cfg(feature = "hydrate")]
    if hydrated {
        return Some(local::day(ts));
    }
    #[cfg(not(feature = "hydrate"))]
    let _server_renders_none = (ts, hydrated);
    None
}

/// A date separator's words for the reader's day `day` of `ts`: "Today", "Yesterday", or the
/// date in the reader's language ("Monday, 5 December 2026").
pub fn day_label(ts: i64, day: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let today = local::day(js_sys::Date::now() as i64);
        match today - day {
            0 => "Today".to_owned(),
            1 => "Yesterday".to_owned(),
            _ => local::long_date(ts),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = day;
        iso_utc(ts)[..10].to_owned()
    }
}

/// A message's full date and time, for its `title`: the UTC ISO form before hydration, the
/// reader's full local date and time after.
pub fn full_moment(ts: i64, hydrated: bool) -> String {
    #[cfg(feature = "hydrate")]
    if hydrated {
        return local::full(ts);
    }
    #[cfg(not(feature = "hydrate"))]
    let _server_renders_utc = hydrated;
    iso_utc(ts)
}

/// A message time: UTC `HH:MM` before hydration, the reader's local time after.
pub fn time_of_day(ts: i64, hydrated: bool) -> String {
    #[cfg(feature = "hydrate")]
    if hydrated {
        return local::time(ts);
    }
    #[cfg(not(feature = "hydrate"))]
    let _server_renders_utc = hydrated;
    utc_hh_mm(ts)
}

/// A last-activity time: like [`time_of_day`], with the date too when it is not today.
pub fn moment(ts: i64, hydrated: bool) -> String {
    #[cfg(feature = "hydrate")]
    if hydrated {
        return local::format(ts, true);
    }
    #[cfg(not(feature = "hydrate"))]
    let _server_renders_utc = hydrated;
    utc_hh_mm(ts)
}

#[cfg(feature = "hydrate")]
mod local {
    //! The reader's locale, through two `Intl.DateTimeFormat`s made once per tab: making one
    //! is the costly part (`toLocaleTimeString` makes a new one on every call), and a busy room
    //! formats a time for every message it shows.
    use js_sys::{Array, Date, Function, Intl::DateTimeFormat, Object, Reflect};
    use std::cell::RefCell;
    use std::thread::LocalKey;
    use wasm_bindgen::JsValue;

    thread_local! {
        static TIME: Function = formatter(&[("hour", "2-digit"), ("minute", "2-digit")]);
        static DATE_AND_TIME: Function = formatter(&[
            ("year", "numeric"),
            ("month", "short"),
            ("day", "numeric"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
        ]);
        static LONG_DATE: Function = formatter(&[
            ("weekday", "long"),
            ("year", "numeric"),
            ("month", "long"),
            ("day", "numeric"),
        ]);
        static FULL: Function = formatter(&[
            ("weekday", "long"),
            ("year", "numeric"),
            ("month", "long"),
            ("day", "numeric"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
            ("second", "2-digit"),
        ]);
    }

    thread_local! {
        /// The clock's offset in the quarter hour last asked about (offsets and their changes
        /// fall on quarter hours): the list asks for every row on every redraw, nearly always
        /// within one, and a `Date` per row was most of that.
        static OFFSET: std::cell::Cell<Option<(i64, i64)>> = const { std::cell::Cell::new(None) };
    }

    /// The reader's day of `ts` (see [`super::day_number`]).
    pub fn day(ts: i64) -> i64 {
        let quarter = ts.div_euclid(900_000);
        let offset = OFFSET.with(|cached| match cached.get() {
            Some((at, offset)) if at == quarter => offset,
            _ => {
                let offset = Date::new(&JsValue::from_f64(ts as f64)).get_timezone_offset() as i64;
                cached.set(Some((quarter, offset)));
                offset
            }
        });
        super::day_number(ts, offset)
    }

    pub fn long_date(ts: i64) -> String {
        LONG_DATE.with(|format| apply(format, &Date::new(&JsValue::from_f64(ts as f64))))
    }

    thread_local! {
        /// The last full moment and time of day formatted, by the second and the minute they
        /// name: a busy room's rows come many to a second, and each row asks for both (a
        /// formatter call is a `Date`, a call into JS and a string back, a tenth of a row's
        /// cost before these).
        static LAST_FULL: RefCell<Option<(i64, String)>> = const { RefCell::new(None) };
        static LAST_TIME: RefCell<Option<(i64, String)>> = const { RefCell::new(None) };
    }

    /// `make()` for `key`, or the string made last when it was for the same key.
    fn remembered(
        last: &'static LocalKey<RefCell<Option<(i64, String)>>>,
        key: i64,
        make: impl FnOnce() -> String,
    ) -> String {
        last.with_borrow_mut(|last| match last {
            Some((at, made)) if *at == key => made.clone(),
            _ => last.insert((key, make())).1.clone(),
        })
    }

    pub fn full(ts: i64) -> String {
        remembered(&LAST_FULL, ts.div_euclid(1_000), || {
            FULL.with(|format| apply(format, &Date::new(&JsValue::from_f64(ts as f64))))
        })
    }

    /// A bound `format` of a formatter for the reader's language with these options.
    fn formatter(pairs: &[(&str, &str)]) -> Function {
        let locale = web_sys::window()
            .and_then(|w| w.navigator().language())
            .unwrap_or_else(|| "en".to_owned());
        let options = Object::new();
        for (key, value) in pairs {
            let _set = Reflect::set(&options, &(*key).into(), &(*value).into());
        }
        DateTimeFormat::new(&Array::of1(&locale.into()), &options).format()
    }

    fn apply(format: &Function, date: &Date) -> String {
        format
            .call1(&JsValue::NULL, date)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    pub fn format(ts: i64, with_date_unless_today: bool) -> String {
        let date = Date::new(&JsValue::from_f64(ts as f64));
        if with_date_unless_today && Date::new_0().to_date_string() != date.to_date_string() {
            return DATE_AND_TIME.with(|format| apply(format, &date));
        }
        TIME.with(|format| apply(format, &date))
    }

    /// The time of day of `ts` (the minute it falls in).
    pub fn time(ts: i64) -> String {
        remembered(&LAST_TIME, ts.div_euclid(60_000), || format(ts, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_names_its_utc_day_and_only_a_real_date_does() {
        assert_eq!(utc_day_start("1970-01-01"), Some(0));
        assert_eq!(utc_day_start("2026-12-07"), Some(1_796_601_600_000));
        assert_eq!(
            iso_utc(utc_day_start("2024-02-29").unwrap()),
            "2024-02-29T00:00Z"
        );
        for bad in [
            "",
            "2023-02-31",
            "2026-13-01",
            "2026-1",
            "yesterday",
            "2026-12-07x",
        ] {
            assert_eq!(utc_day_start(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn utc_times_ignore_the_date_and_pad() {
        assert_eq!(utc_hh_mm(0), "00:00");
        assert_eq!(utc_hh_mm(1_764_274_500_000), "20:15");
        assert_eq!(utc_hh_mm(-60_000), "23:59");
    }

    #[test]
    fn a_day_starts_at_the_reader_s_midnight() {
        // 2025-11-27T23:30Z: still the 27th in London, already the 28th in Tokyo (UTC+9, an
        // offset of -540), the 27th in New York (UTC-5, +300).
        let ts = 1_764_286_200_000;
        let utc = day_number(ts, 0);
        assert_eq!(day_number(ts, -540), utc + 1);
        assert_eq!(day_number(ts, 300), utc);
        assert_eq!(day_number(ts - 23 * 3_600_000, 0), utc, "the same UTC day");
        assert_eq!(day_number(-1, 0), -1, "before the epoch");
    }

    #[test]
    fn iso_timestamps_name_the_utc_date() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00Z");
        assert_eq!(iso_utc(1_764_274_500_000), "2025-11-27T20:15Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00Z");
    }
}
