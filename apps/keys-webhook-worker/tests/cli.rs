//! The worker binary as an operator runs it: `status` and `replay` on a fresh database, and
//! `run` serving its metrics on `metrics.bind` until SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn worker(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keys-webhook-worker"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("KEYS__LOG__FILTER", "warn")
        .output()
        .unwrap()
}

#[test]
fn status_counts_and_replay_of_an_unknown_event_says_so() {
    let data = tempfile::tempdir().unwrap();
    let out = worker(data.path(), &["status"]);
    assert!(out.status.success(), "{out:?}");
    let out = worker(data.path(), &["replay", "evt_no_such_event"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
fn get(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

#[test]
fn run_serves_metrics_on_its_own_listener_and_stops_on_sigterm() {
    const TOKEN: &str = "worker-scrape-token-123";
    let data = tempfile::tempdir().unwrap();
    // A free loopback port (the worker logs but does not print the address it bound).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keys-webhook-worker"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("run")
        .env("KEYS__LOG__FILTER", "warn")
        .env("KEYS__METRICS__BIND", &addr)
        .env("KEYS__METRICS__TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let body = loop {
        if let Some((status, body)) = get(&addr, "/metrics", Some(TOKEN)) {
            assert_eq!(status, 200, "{body}");
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no metrics listener on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for family in [
        "keys_up 1",
        "keys_inbox_events{state=\"pending\"} 0",
        "keys_inbox_events{state=\"dead\"} 0",
        "keys_inbox_applied_total 0",
        "keys_inbox_oldest_pending_age_seconds 0",
        "keys_mail_outbox{state=\"pending\"} 0",
        "keys_db_pool_max_connections ",
    ] {
        assert!(body.contains(family), "{family}: {body}");
    }
    assert!(
        !body.contains("keys_http_requests"),
        "the worker serves no HTTP API: {body}"
    );
    let (status, _) = get(&addr, "/metrics", None).unwrap();
    assert_eq!(status, 401);

    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(stopping.elapsed() < Duration::from_secs(10), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.starts_with("applied 0, failed 0"), "{out}");
}
