//! `keys-ingest stripe-sync` against a local fake of the Stripe API: the first run creates a
//! Product and a Price per SKU, a second run changes nothing, a price change archives the old
//! Price; without a key it says what to set.

#[path = "../../../crates/stripe-gateway/tests/fake_stripe/mod.rs"]
#[allow(dead_code)]
mod fake_stripe;

use std::path::Path;

async fn sync(base: &str, assets: &Path, key: Option<&str>) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keys-ingest"));
    cmd.arg("stripe-sync")
        .arg("--assets")
        .arg(assets)
        .env("KEYS__STRIPE__API_BASE", base)
        .env("KEYS__STRIPE__WEBHOOK_SECRETS", "whsec_sync")
        .env("KEYS__LOG__FILTER", "warn");
    match key {
        Some(k) => cmd.env("KEYS__STRIPE__SECRET_KEY", k),
        None => cmd.env_remove("KEYS__STRIPE__SECRET_KEY"),
    };
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_sync_is_idempotent_and_follows_price_changes() {
    let fake = fake_stripe::FakeStripe::start().await;
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys-assets");
    copy_dir(&shipped, &assets);

    let (ok, out, err) = sync(&fake.base, &assets, Some("sk_test_sync")).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("40 SKUs: 40 products created, 40 prices created, 0 prices archived, 0 unchanged"),
        "{out}"
    );
    let (ok, out, err) = sync(&fake.base, &assets, Some("sk_test_sync")).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("0 products created, 0 prices created, 0 prices archived, 40 unchanged"),
        "{out}"
    );

    // The on-call handbook goes from $9.00 to $11.00: a new Price for it and for the bundle it
    // is in (whose price follows its members), the old ones archived.
    let pricing = assets.join("pricing.toml");
    let text = std::fs::read_to_string(&pricing).unwrap();
    std::fs::write(
        &pricing,
        text.replace("on-call-handbook = \"9.00\"", "on-call-handbook = \"11.00\""),
    )
    .unwrap();
    let (ok, out, err) = sync(&fake.base, &assets, Some("sk_test_sync")).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("0 products created, 2 prices created, 2 prices archived, 38 unchanged"),
        "{out}"
    );
    let handbook: Vec<_> = fake
        .prices()
        .into_iter()
        .filter(|p| p["lookup_key"] == "key:on-call-handbook")
        .collect();
    assert_eq!(handbook.len(), 1, "the lookup key moved to the new price");
    assert_eq!(handbook[0]["unit_amount"], 1_100);

    let (ok, _, err) = sync(&fake.base, &assets, None).await;
    assert!(!ok);
    assert!(err.contains("KEYS__STRIPE__SECRET_KEY"), "{err}");
}
