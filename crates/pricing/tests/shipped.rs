//! The shipped `keys-assets/pricing.toml` is valid, and every override names a shipped KEY.

use std::path::PathBuf;

#[test]
fn shipped_pricing_file_is_valid() {
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../keys-assets");
    let text = std::fs::read_to_string(assets.join(pricing::PRICING_FILE)).unwrap();
    let prices = pricing::PriceList::parse(&text, "keys-assets/pricing.toml").unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(prices.currency(), pricing::Currency::Usd);
    let overrides: toml::Table = toml::from_str::<toml::Table>(&text).unwrap()["overrides"]
        .as_table()
        .unwrap()
        .clone();
    for slug in overrides.keys() {
        let exists = ["node-next-keys", "runbook-keys", "jupyter-keys"]
            .iter()
            .any(|d| assets.join(d).join(slug).is_dir());
        assert!(exists, "override for `{slug}`, which is not a shipped KEY");
    }
}
