//! The archive store on the local filesystem and on a real S3-compatible server (s3s-fs,
//! which checks SigV4 signatures): put, get, verify, and presigned URLs that work, then fail
//! once tampered with or expired.

use std::time::Duration;

use blob_store::{BlobConfig, ObjectArchiveStore};
use catalog::{ArchiveError, ArchiveStore};
use sha2::{Digest, Sha256};

async fn round_trip(store: &ObjectArchiveStore) {
    // Unique content per run, so a reused bucket never already holds the object.
    let mut bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    let sha = hex(&Sha256::digest(&bytes));
    let key = catalog::archive_object_key(&sha);
    assert!(!store.exists(&key).await.unwrap());
    store.put(&key, bytes.clone()).await.unwrap();
    assert!(store.exists(&key).await.unwrap());
    let back = store.get(&key).await.unwrap();
    assert_eq!(hex(&Sha256::digest(&back)), sha, "re-read bytes verify");
    // Overwriting a content-addressed key is harmless.
    store.put(&key, bytes).await.unwrap();
    assert!(matches!(
        store.get("archives/sha256/00/missing.tar.gz").await,
        Err(ArchiveError::NotFound(_))
    ));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn local_store_round_trip_and_no_presigning() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectArchiveStore::new(&BlobConfig::Local {
        root: dir.path().join("objects"),
    })
    .unwrap();
    round_trip(&store).await;
    assert_eq!(
        store
            .presigned_get("archives/x", Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
}

fn s3_store(ep: &test_support::S3Endpoint, secret: &str) -> ObjectArchiveStore {
    ObjectArchiveStore::new(&BlobConfig::S3 {
        bucket: ep.bucket.clone(),
        region: "us-east-1".into(),
        endpoint: Some(ep.endpoint.clone()),
        access_key_id: ep.access_key.clone(),
        secret_access_key: secret.to_owned().into(),
        allow_http: true,
    })
    .unwrap()
}

#[tokio::test]
async fn s3_store_round_trip_and_presigned_urls() {
    let Some(ep) = test_support::s3_endpoint() else { return };
    let store = s3_store(&ep, &ep.secret_key);
    round_trip(&store).await;

    let key = format!("archives/test/{}.tar.gz", uuid::Uuid::new_v4());
    store.put(&key, b"archive bytes".to_vec()).await.unwrap();
    let other = format!("archives/test/{}.tar.gz", uuid::Uuid::new_v4());
    store.put(&other, b"other bytes".to_vec()).await.unwrap();
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };

    let url = store
        .presigned_get(&key, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("s3 signs");
    let ok = get(url.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().as_ref(), b"archive bytes");

    // Re-targeted at another object: the signature covers the path.
    let retargeted = url.replace(&key, &other);
    assert_ne!(retargeted, url);
    assert_eq!(get(retargeted).await.status(), 403);
    // Tampered signature.
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let c = if &url[sig_at..=sig_at] == "0" { "1" } else { "0" };
    tampered.replace_range(sig_at..=sig_at, c);
    assert_eq!(get(tampered).await.status(), 403);
    // Tampered expiry.
    let longer = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
    assert_ne!(longer, url);
    assert_eq!(get(longer).await.status(), 403);
    // Signed with a wrong secret.
    let forged = s3_store(&ep, "not-the-secret")
        .presigned_get(&key, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(forged).await.status(), 403);
    // Expired.
    let short = store
        .presigned_get(&key, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(get(short).await.status(), 403);
}
