//! A tiny burst against a real server on 127.0.0.1:0 that cannot finish before its deadline: the
//! report must still hold what was measured and say what was left undone.

use clap::Parser;
use leptos::prelude::get_configuration;
use loadtest::{run, Scenario};
use minitalk_server::config::Config;

#[tokio::test]
async fn a_run_ended_by_its_deadline_reports_what_it_measured() {
    let dir = tempfile::tempdir().unwrap();
    // One message a second per user: 2 users × 20 messages need far longer than the run.
    let flags = [
        "minitalk",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--flush-interval-ms",
        "5",
        "--rate-limit",
        "1",
        "--rate-burst",
        "1",
        "--sign-ins-per-ip-per-min",
        "0",
        "--sign-ins-per-sec",
        "0",
    ];
    let options = get_configuration(None).unwrap().leptos_options;
    let server = minitalk_server::start(Config::parse_from(flags), options)
        .await
        .expect("server starts");
    let url = format!("http://{}", server.addr);
    let scenario = Scenario::parse_from([
        "minitalk-loadtest",
        "--url",
        &url,
        "--users",
        "2",
        "--rooms",
        "1",
        "--messages",
        "20",
        "--window",
        "2",
        "--deadline-secs",
        "10",
        "--drain-secs",
        "1",
    ]);

    let report = run(&scenario).await.expect("a report, not an error");

    assert!(report.timed_out);
    assert_eq!(report.timed_out_during, Some("the burst"));
    assert_eq!(
        (report.users, report.messages_per_user, report.sent),
        (2, 20, 40)
    );
    assert!(report.acked >= 2, "the burst's first messages were acked");
    assert!(report.acked < 40);
    assert!(report.deliveries > 0, "the other user received some");
    assert!(report.ack_ms.max > 0.0);
    assert_eq!(
        report.acked + report.given_up + report.unanswered + report.unsent,
        40,
        "every message is acked or accounted for as left undone"
    );
    assert!(report.errors.contains_key("rate_limited"));
    let text = report.to_string();
    assert!(
        text.contains("| users × messages | 2 × 20 in 1 rooms |"),
        "{text}"
    );
    assert!(text.contains("FAIL"), "{text}");
    server.shutdown();
    server.stopped().await.unwrap();
}
