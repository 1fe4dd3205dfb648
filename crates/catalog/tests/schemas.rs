//! The published JSON Schemas under `docs/schemas/` are generated from the manifest types, so
//! they cannot drift: this test fails when the committed files differ from the types.
//! Regenerate with `KEYS_BLESS=1 cargo test -p catalog --test schemas`.

use std::path::PathBuf;

fn check(file: &str, schema: &schemars::Schema) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schemas")
        .join(file);
    let want = format!("{}\n", serde_json::to_string_pretty(schema).unwrap());
    if std::env::var_os("KEYS_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run KEYS_BLESS=1 cargo test -p catalog --test schemas",
            path.display()
        )
    });
    assert!(
        have == want,
        "{} is stale; run KEYS_BLESS=1 cargo test -p catalog --test schemas",
        path.display()
    );
}

#[test]
fn key_manifest_schema_is_current() {
    check("key-manifest.schema.json", &schemars::schema_for!(catalog::KeyManifest));
}

#[test]
fn jupyter_section_schema_is_current() {
    check(
        "jupyter-key-section.schema.json",
        &schemars::schema_for!(catalog::JupyterKeySection),
    );
}
