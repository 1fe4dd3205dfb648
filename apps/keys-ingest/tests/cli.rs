//! The keys-ingest binary as an operator runs it.

use std::path::Path;
use std::process::Command;

fn ingest(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keys-ingest"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("KEYS__DATABASE__URL")
        .env("KEYS__LOG__FILTER", "warn")
        .output()
        .unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn help_dry_run_json_and_exit_codes() {
    let help = Command::new(env!("CARGO_BIN_EXE_keys-ingest"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in ["--assets", "--dry-run", "--json", "--config", "synth"] {
        assert!(help.contains(flag), "{flag} in --help");
    }

    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    let data = dir.path().join("data");
    // A synthetic catalog plus one broken KEY.
    let synth = Command::new(env!("CARGO_BIN_EXE_keys-ingest"))
        .args(["synth", "--count", "20", "--out"])
        .arg(&assets)
        .output()
        .unwrap();
    assert!(synth.status.success());
    write(
        &assets.join("runbook-keys/broken-key/key.toml"),
        "slug = \"broken-key\"\n",
    );

    let dry = ingest(&data, &["--assets", assets.to_str().unwrap(), "--dry-run", "--json"]);
    assert_eq!(dry.status.code(), Some(1), "a rejection makes the exit status 1");
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["added"], 20);
    assert_eq!(report["rejected"], 1);
    let broken = report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["slug"] == "broken-key")
        .unwrap();
    assert_eq!(broken["outcome"], "rejected");
    assert_eq!(broken["errors"][0]["file"], "runbook-keys/broken-key/key.toml");
    assert_eq!(broken["errors"][0]["field"], "name");
    assert!(!data.exists(), "a dry run creates no data dir, database or objects");

    // Dry run wrote nothing: a real run still adds all 20.
    let real = ingest(&data, &["--assets", assets.to_str().unwrap()]);
    assert_eq!(real.status.code(), Some(1));
    let text = String::from_utf8(real.stdout).unwrap();
    assert!(text.contains("REJECTED broken-key (runbook)"), "{text}");
    assert!(text.contains("field `name`: missing field `name`"), "{text}");
    assert!(text.contains("added 20, updated 0, unchanged 0, rejected 1"), "{text}");

    std::fs::remove_dir_all(assets.join("runbook-keys/broken-key")).unwrap();
    let again = ingest(&data, &["--assets", assets.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        String::from_utf8(again.stdout)
            .unwrap()
            .contains("added 0, updated 0, unchanged 20, rejected 0")
    );

    // Bad settings name the setting and exit 2.
    let bad = Command::new(env!("CARGO_BIN_EXE_keys-ingest"))
        .env("KEYS__DATABASE__MAX_CONNECTIONS", "0")
        .args(["--dry-run"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .contains("KEYS__DATABASE__MAX_CONNECTIONS")
    );
}
