//! `/search?q=…&room=…&sender=…&from=…&until=…`: messages of your rooms holding some words.
//!
//! Why a plain GET form: the query is the page's address, so a search can be reloaded, shared
//! with yourself, and rendered by the server (the form works before the page hydrates, and
//! without JavaScript). Each hit links to its room opened at the message (`?at=SEQ`), in the
//! middle of its stretch of history. Dates are UTC days, inclusive.

use crate::api::{list_rooms, search, ApiError, SearchHit, SearchQuery, SEARCH_MAX_CHARS};
use crate::clock::{self, Hydrated};
use crate::model::RoomId;
use crate::pages::room::text::excerpt;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

/// The query the address names (`None` when it names no words).
fn wanted(param: impl Fn(&str) -> Option<String>) -> Option<SearchQuery> {
    let words = param("q").filter(|q| !q.trim().is_empty())?;
    let day = |name: &str| param(name).and_then(|d| clock::utc_day_start(&d));
    Some(SearchQuery {
        words,
        room_id: param("room").and_then(|r| r.parse().ok()).map(RoomId),
        sender: param("sender").filter(|s| !s.trim().is_empty()),
        from_ts: day("from"),
        // The whole of the last day.
        until_ts: day("until").map(|start| start + 86_400_000 - 1),
    })
}

#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name);
    let wanted_now = move || wanted(param);
    let results = Resource::new(wanted_now, |wanted| async move {
        match wanted {
            Some(q) => search(q).await.map(Some),
            None => Ok(None),
        }
    });
    let rooms = Resource::new(|| (), |()| list_rooms());
    let value = move |name: &'static str| move || param(name).unwrap_or_default();
    let chosen_room = move || param("room").unwrap_or_default();
    view! {
        <Title text="Search"/>
        <section class="card search-page" aria-labelledby="search-title">
            <h1 id="search-title">"Search messages"</h1>
            <form class="search-form" method="get" action="/search" role="search">
                <label for="search-words">"Words"</label>
                <input id="search-words" name="q" type="search" required
                    maxlength=SEARCH_MAX_CHARS prop:value=value("q")/>
                <label for="search-room">"Room"</label>
                <select id="search-room" name="room">
                    <option value="">"All your rooms"</option>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            rooms.await.unwrap_or_default().into_iter()
                                .filter(|r| r.is_member)
                                .map(|r| {
                                    let id = r.id.to_string();
                                    let selected = chosen_room() == id;
                                    view! { <option value=id selected=selected>{r.title()}</option> }
                                })
                                .collect_view()
                        })}
                    </Transition>
                </select>
                <label for="search-sender">"From"</label>
                <input id="search-sender" name="sender" type="text" maxlength="32"
                    placeholder="anyone" prop:value=value("sender")/>
                <label for="search-from">"Since"</label>
                <input id="search-from" name="from" type="date" prop:value=value("from")/>
                <label for="search-until">"Until"</label>
                <input id="search-until" name="until" type="date" prop:value=value("until")/>
                <button type="submit">"Search"</button>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match results.await {
                        Err(ApiError::NotSignedIn) => view! { <Redirect path="/login"/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(None) => view! {
                            <p class="muted">"Search the rooms you are in: every word must match."</p>
                        }
                            .into_any(),
                        Ok(Some(hits)) if hits.is_empty() => view! {
                            <p class="empty" role="status">"No messages found."</p>
                        }
                            .into_any(),
                        Ok(Some(hits)) => view! {
                            <p class="muted" role="status">{found(hits.len())}</p>
                            <ol class="search-hits">
                                {hits.into_iter().map(|hit| view! { <Hit hit/> }).collect_view()}
                            </ol>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn found(n: usize) -> String {
    match n {
        1 => "1 message found".into(),
        n => format!("{n} messages found"),
    }
}

#[component]
fn Hit(hit: SearchHit) -> impl IntoView {
    let hydrated = Hydrated::expect();
    let SearchHit {
        room_title,
        message,
    } = hit;
    let href = format!("/rooms/{}?at={}", message.room_id, message.seq);
    let ts = message.ts;
    view! {
        <li class="search-hit">
            <a href=href>
                <span class="hit-room">{room_title}</span>
                <span class="sender">{message.sender.to_string()}</span>
                <time datetime=clock::iso_utc(ts)>{move || clock::full_moment(ts, hydrated.get())}</time>
            </a>
            <p class="hit-text">{excerpt(&message.content)}</p>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_names_the_query_and_dates_are_whole_utc_days() {
        let address = |pairs: &'static [(&'static str, &'static str)]| {
            wanted(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(address(&[]), None);
        assert_eq!(address(&[("q", "  ")]), None);
        let q = address(&[
            ("q", "pizza"),
            ("room", "7"),
            ("sender", " "),
            ("from", "1970-01-02"),
            ("until", "1970-01-02"),
        ])
        .unwrap();
        assert_eq!(q.room_id, Some(RoomId(7)));
        assert_eq!(q.sender, None);
        assert_eq!(q.from_ts, Some(86_400_000));
        assert_eq!(q.until_ts, Some(2 * 86_400_000 - 1));
        let bad = address(&[("q", "pizza"), ("room", "x"), ("from", "soon")]).unwrap();
        assert_eq!((bad.room_id, bad.from_ts), (None, None));
    }
}
