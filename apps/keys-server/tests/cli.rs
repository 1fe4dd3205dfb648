//! The keys-server binary as the README runs it: prints the URL, serves, stops cleanly on
//! SIGTERM, and refuses bad settings naming them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn help_lists_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_keys-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--bind",
        "--data-dir",
        "--config",
        "--assets",
        "--no-ingest",
        "KEYS__DATABASE__URL",
    ] {
        assert!(help.contains(flag), "{flag} in --help:\n{help}");
    }
}

#[test]
fn bad_setting_is_named_and_exits_non_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_keys-server"))
        .env("KEYS__SERVER__BIND", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("KEYS__SERVER__BIND") && err.contains("not-an-address"),
        "{err}"
    );
}

#[tokio::test]
async fn embedded_default_prints_its_url_serves_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keys-server"))
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--assets")
        .arg(test_support::repo_assets_dir())
        .env_remove("KEYS__DATABASE__URL")
        .env("KEYS__LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line on stdout").unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    assert!(url.ends_with("/marketplace"), "{url}");
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(body.contains("KEYS found"));
    assert!(data.path().join("keys.sqlite").exists(), "SQLite file in the data dir");
    assert!(
        data.path().join("objects/archives").is_dir(),
        "local object store beside it"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
