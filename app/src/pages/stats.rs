//! `/stats`: the MessageProcessor's live figures, from `GET /api/stats`.
//!
//! The first figures are in the server's HTML; once hydrated the page asks again every second
//! and draws the last minute's store rate as an inline SVG chart.

use crate::api::{stats, ApiError};
use crate::model::StatsSnapshot;
use leptos::prelude::*;
use leptos_meta::Title;
use std::time::Duration;

const REFRESH: Duration = Duration::from_secs(1);
const CHART_W: f64 = 600.0;
const CHART_H: f64 = 140.0;
/// Seconds of history the chart shows.
const CHART_SECONDS: usize = 60;

#[component]
pub fn StatsPage() -> impl IntoView {
    let first = Resource::new(|| (), |()| stats());
    view! {
        <Title text="Stats"/>
        <section class="card stats-page" aria-labelledby="stats-heading">
            <h1 id="stats-heading">"Message processor"</h1>
            <p class="lede">"Live figures of the server's message pipeline, refreshed every second."</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading figures…"</p> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Ok(snapshot) => view! { <LiveStats snapshot/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn LiveStats(snapshot: StatsSnapshot) -> impl IntoView {
    let current = RwSignal::new(snapshot);
    let error = RwSignal::new(None::<ApiError>);
    Effect::new(move |_| {
        let busy = StoredValue::new(false);
        let handle = set_interval_with_handle(
            move || {
                if busy.try_get_value() != Some(false) {
                    return;
                }
                busy.set_value(true);
                leptos::task::spawn_local(async move {
                    let answer = stats().await;
                    if busy.try_get_value().is_none() {
                        return;
                    }
                    match answer {
                        Ok(s) => {
                            current.set(s);
                            error.set(None);
                        }
                        Err(e) => error.set(Some(e)),
                    }
                    busy.set_value(false);
                });
            },
            REFRESH,
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    });

    let figure = move |f: fn(&StatsSnapshot) -> String| move || current.with(f);
    view! {
        <div class="figures">
            <Figure id="processed" label="Messages processed" value=figure(|s| s.processed_total.to_string())/>
            <Figure id="rate" label="Rate (msg/s)" value=figure(|s| s.rate_per_sec.to_string())/>
            <Figure
                id="queue"
                label="Queue depth"
                value=figure(|s| format!("{} / {}", s.queue_depth, s.queue_capacity))
            />
            <Figure id="batch" label="Average batch size" value=figure(|s| format!("{:.1}", s.avg_batch_size))/>
            <Figure id="p99" label="Flush p99 (ms)" value=figure(|s| format!("{:.2}", s.flush_p99_ms))/>
            <Figure id="failed" label="Failed batches" value=figure(|s| s.failed_batches.to_string())/>
            <Figure id="overloaded" label="Refused (queue full)" value=figure(|s| s.overloaded_total.to_string())/>
            <Figure id="connections" label="Connections" value=figure(|s| s.connections.to_string())/>
        </div>
        <RateChart history=Signal::derive(move || current.with(|s| s.rate_history.clone()))/>
        <p class="error" role="alert">{move || error.get().map(|e| e.to_string())}</p>
    }
}

#[component]
fn Figure(
    id: &'static str,
    label: &'static str,
    value: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    let label_id = format!("figure-{id}");
    view! {
        <div class="figure" role="group" aria-labelledby=label_id.clone()>
            <span class="figure-label" id=format!("figure-{id}")>{label}</span>
            <span class="figure-value">{value}</span>
        </div>
    }
}

/// Points of a polyline for `history` (oldest first), right-aligned in a 60-second window.
fn chart_points(history: &[u64], top: u64) -> String {
    let recent = &history[history.len().saturating_sub(CHART_SECONDS)..];
    let offset = CHART_SECONDS - recent.len();
    let step = CHART_W / (CHART_SECONDS - 1) as f64;
    recent
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = (offset + i) as f64 * step;
            let y = CHART_H - (*v as f64 / top as f64) * (CHART_H - 8.0);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A scale top that is a round number at or above `max`.
fn nice_top(max: u64) -> u64 {
    let max = max.max(5);
    let magnitude = 10u64.pow(max.ilog10());
    for step in [1, 2, 5, 10] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10 * magnitude
}

#[component]
fn RateChart(history: Signal<Vec<u64>>) -> impl IntoView {
    let top = move || nice_top(history.with(|h| h.iter().copied().max().unwrap_or(0)));
    let points = move || history.with(|h| chart_points(h, top()));
    let area = move || {
        let line = points();
        if line.is_empty() {
            String::new()
        } else {
            let first_x = line.split(',').next().unwrap_or("0").to_owned();
            format!("{first_x},{CHART_H} {line} {CHART_W},{CHART_H}")
        }
    };
    let summary = move || {
        history.with(|h| {
            let recent = &h[h.len().saturating_sub(CHART_SECONDS)..];
            let peak = recent.iter().copied().max().unwrap_or(0);
            format!(
                "Messages stored per second over the last minute; now {}, peak {peak}.",
                recent.last().copied().unwrap_or(0)
            )
        })
    };
    view! {
        <figure class="chart">
            <figcaption>"Stored per second, last 60 s"</figcaption>
            <div class="chart-frame">
                <span class="chart-top" aria-hidden="true">{top}</span>
                <svg
                    viewBox=format!("0 0 {CHART_W} {CHART_H}")
                    preserveAspectRatio="none"
                    role="img"
                    aria-label=summary
                >
                    <line class="grid" x1="0" y1=CHART_H / 2.0 x2=CHART_W y2=CHART_H / 2.0></line>
                    <line class="grid" x1="0" y1="8" x2=CHART_W y2="8"></line>
                    <polygon class="area" points=area></polygon>
                    <polyline class="rate" points=points></polyline>
                </svg>
                <span class="chart-zero" aria-hidden="true">"0"</span>
            </div>
            <div class="chart-axis" aria-hidden="true">
                <span>"−60 s"</span>
                <span>"now"</span>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_scale_tops_are_round() {
        assert_eq!(nice_top(0), 5);
        assert_eq!(nice_top(7), 10);
        assert_eq!(nice_top(11), 20);
        assert_eq!(nice_top(180), 200);
        assert_eq!(nice_top(501), 1000);
    }

    #[test]
    fn chart_points_are_right_aligned() {
        let points = chart_points(&[0, 10], 10);
        assert_eq!(points, "589.8,140.0 600.0,8.0");
    }
}
