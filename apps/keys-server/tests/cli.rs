//! The keys-server binary as the README runs it: prints the URL, serves, stops cleanly on
//! SIGTERM, and refuses bad settings naming them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let (mut child, url) = common::server_process(data.path(), &[]);
    assert!(url.ends_with("/marketplace"), "{url}");
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(body.contains("KEYS found"));
    assert!(data.path().join("keys.sqlite").exists(), "SQLite file in the data dir");
    assert!(
        data.path().join("objects/archives").is_dir(),
        "local object store beside it"
    );

    let exit = common::terminate(&mut child, Duration::from_secs(15));
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}

/// The operator's admin commands through the binary: each change prints its audit line; a
/// non-loopback server without a payment provider refuses to start, naming the settings.
#[test]
fn admin_commands_print_audit_lines_and_a_public_bind_needs_a_payment_provider() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keys-server"))
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("KEYS__DATABASE__URL")
            .env("KEYS__LOG__FILTER", "warn")
            .env("USER", "ops-alice")
            .output()
            .unwrap()
    };
    let out = run(&["admin", "grant", "nobody@example.com"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sign up first"), "{err}");
    let out = run(&["admin", "list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no admins"));

    let out = Command::new(env!("CARGO_BIN_EXE_keys-server"))
        .args(["--bind", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .env_remove("KEYS__DATABASE__URL")
        .env_remove("KEYS__STRIPE__SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for setting in ["KEYS__PAYMENTS__MODE", "KEYS__STRIPE__SECRET_KEY"] {
        assert!(err.contains(setting), "{setting} in {err}");
    }
}

/// The access log (one line per request) never shows an invite token: accepting an invite
/// logs `/api/v1/invites/[redacted]/accept`.
#[tokio::test]
async fn invite_tokens_never_reach_the_access_log() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keys-server"))
        .args(["--bind", "127.0.0.1:0", "--no-ingest", "--data-dir"])
        .arg(data.path())
        .env_remove("KEYS__DATABASE__URL")
        .env("KEYS__LOG__FILTER", "info")
        .env("KEYS__LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line on stdout").unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches("/marketplace")
        .to_owned();
    let c = reqwest::Client::new();
    let signup = |email: &str| {
        let c = c.clone();
        let url = url.clone();
        let email = email.to_owned();
        async move {
            let r = c
                .post(format!("{url}/api/v1/auth/signup"))
                .json(&serde_json::json!({"email": email, "password": "correct horse battery"}))
                .send()
                .await
                .unwrap();
            r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        }
    };
    let owner = signup("owner@acme.test").await;
    let ada = signup("ada@acme.test").await;
    let org: serde_json::Value = c
        .post(format!("{url}/api/v1/orgs"))
        .header("cookie", &owner)
        .json(&serde_json::json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invite: serde_json::Value = c
        .post(format!("{url}/api/v1/orgs/{}/invites", org["id"]))
        .header("cookie", &owner)
        .json(&serde_json::json!({"role": "member"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = invite["token"].as_str().unwrap().to_owned();
    let r = c
        .post(format!("{url}/api/v1/invites/{token}/accept"))
        .header("cookie", &ada)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("/api/v1/invites/[redacted]/accept"),
        "the request is logged:\n{log}"
    );
    assert!(!log.contains(&token), "the token is not:\n{log}");
    assert!(!log.contains(&token["keys_inv_".len()..]), "not even in part:\n{log}");
}
