//! # blob-store — object storage adapter
//!
//! Implements [`catalog::ArchiveStore`] with the `object_store` crate on two backends:
//!
//! * **local**: files under a directory (the embedded default). It cannot sign URLs; the
//!   server will serve downloads through its own signed links.
//! * **memory**: nothing persisted (dry runs).
//! * **s3**: any S3-compatible service. Downloads get presigned `GET` URLs (SigV4), which the
//!   service itself refuses once tampered with or expired.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog::{ArchiveError, ArchiveStore};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use secrecy::{ExposeSecret, SecretString};

/// Where archives live.
#[derive(Debug, Clone)]
pub enum BlobConfig {
    /// A directory on this machine (created when missing).
    Local {
        /// The root directory.
        root: PathBuf,
    },
    /// In memory, gone when the process ends (dry runs, tests).
    Memory,
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name (must exist).
        bucket: String,
        /// Region, e.g. `us-east-1`.
        region: String,
        /// Custom endpoint for S3-compatible services (`http://127.0.0.1:9000`); `None` for AWS.
        endpoint: Option<String>,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: SecretString,
        /// Allow plain-HTTP endpoints (loopback test servers).
        allow_http: bool,
    },
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BlobConfigError {
    /// The local directory could not be created.
    #[error("cannot create the local object store directory {path}: {source}")]
    LocalDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The object_store builder refused the settings.
    #[error("invalid object storage settings: {0}")]
    Invalid(#[from] object_store::Error),
}

/// [`ArchiveStore`] over `object_store`.
#[derive(Debug, Clone)]
pub struct ObjectArchiveStore {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<AmazonS3>>,
}

impl ObjectArchiveStore {
    /// Builds the store for a configuration.
    ///
    /// # Errors
    /// [`BlobConfigError`] when the directory cannot be made or the S3 settings are invalid.
    pub fn new(config: &BlobConfig) -> Result<Self, BlobConfigError> {
        match config {
            BlobConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(|source| BlobConfigError::LocalDir {
                    path: root.clone(),
                    source,
                })?;
                let fs = LocalFileSystem::new_with_prefix(root)?;
                Ok(Self {
                    store: Arc::new(fs),
                    signer: None,
                })
            }
            BlobConfig::Memory => Ok(Self {
                store: Arc::new(object_store::memory::InMemory::new()),
                signer: None,
            }),
            BlobConfig::S3 {
                bucket,
                region,
                endpoint,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key.expose_secret())
                    // Fail fast when the service is down: a download answers 503 within
                    // seconds instead of retrying for minutes (object_store's default). (The
                    // client options come first: they include `allow_http`.)
                    .with_client_options(
                        ClientOptions::new()
                            .with_connect_timeout(Duration::from_secs(2))
                            .with_timeout(Duration::from_secs(60)),
                    )
                    .with_allow_http(*allow_http)
                    .with_retry(RetryConfig {
                        max_retries: 2,
                        retry_timeout: Duration::from_secs(5),
                        ..RetryConfig::default()
                    });
                if let Some(endpoint) = endpoint {
                    b = b.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
                }
                let s3 = Arc::new(b.build()?);
                Ok(Self {
                    store: Arc::clone(&s3) as Arc<dyn ObjectStore>,
                    signer: Some(s3),
                })
            }
        }
    }
}

fn backend(key: &str, e: &object_store::Error) -> ArchiveError {
    ArchiveError::Backend {
        key: key.to_owned(),
        message: e.to_string(),
    }
}

fn path(key: &str) -> Result<Path, ArchiveError> {
    Path::parse(key).map_err(|e| ArchiveError::Backend {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

#[async_trait]
impl ArchiveStore for ObjectArchiveStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        self.store
            .put(&path(key)?, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| backend(key, &e))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ArchiveError> {
        let result = self.store.get(&path(key)?).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => ArchiveError::NotFound(key.to_owned()),
            e => backend(key, &e),
        })?;
        result.bytes().await.map(|b| b.to_vec()).map_err(|e| backend(key, &e))
    }

    async fn exists(&self, key: &str) -> Result<bool, ArchiveError> {
        match self.store.head(&path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend(key, &e)),
        }
    }

    async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<String>, ArchiveError> {
        let Some(signer) = &self.signer else { return Ok(None) };
        let url = signer
            .signed_url(object_store::signer::Method::GET, &path(key)?, ttl)
            .await
            .map_err(|e| backend(key, &e))?;
        Ok(Some(url.to_string()))
    }
}
