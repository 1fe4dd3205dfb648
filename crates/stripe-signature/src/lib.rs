//! `Stripe-Signature` headers, exactly as Stripe makes them: `t=<unix seconds>,v1=<hex>` where
//! `v1 = HMAC-SHA256(secret, "<t>.<raw body>")`. Several `v1` entries may appear; any match
//! with any configured secret (so secrets can rotate) within the tolerance is accepted.
//!
//! ```
//! use stripe_signature::{SignatureError, sign, verify};
//! let body = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
//! let now = 1_764_700_000; // unix seconds, from your clock
//! let header = sign(body, "whsec_current", now);
//! assert!(header.starts_with(&format!("t={now},v1=")));
//! // Verified against every secret in force (old and new during a rotation).
//! let secrets = ["whsec_old".to_owned(), "whsec_current".to_owned()];
//! assert_eq!(verify(body, Some(&header), &secrets, now + 10), Ok(()));
//! // A changed body, a foreign secret, or an old delivery is refused.
//! assert_eq!(verify(b"{}", Some(&header), &secrets, now), Err(SignatureError::Mismatch));
//! assert!(matches!(verify(body, Some(&header), &secrets, now + 3_600), Err(SignatureError::Stale(_))));
//! assert_eq!(verify(body, None, &secrets, now), Err(SignatureError::Missing));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance between the signature's timestamp and now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("missing Stripe-Signature header")]
    Missing,
    /// The header is not `t=…,v1=…`.
    #[error("malformed Stripe-Signature header")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("signature timestamp is {0} s away from now (tolerance {TOLERANCE_SECS} s)")]
    Stale(i64),
    /// No signature matches any secret.
    #[error("no signature matches")]
    Mismatch,
    /// No secret is configured.
    #[error("no webhook secret is configured")]
    NoSecret,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch is unreachable.
        Hmac::<Sha256>::new_from_slice(b"k").unwrap_or_else(|_| unreachable!())
    });
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header Stripe would send for `body` signed with `secret` at `timestamp`.
#[must_use]
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Verifies a delivery at `now` (unix seconds) against any of `secrets`.
///
/// # Errors
/// [`SignatureError`] saying why the delivery is refused.
pub fn verify(body: &[u8], header: Option<&str>, secrets: &[String], now: i64) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                if let Ok(bytes) = hex::decode(v) {
                    signatures.push(bytes);
                }
            }
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let drift = (now - t).abs();
    if drift > TOLERANCE_SECS {
        return Err(SignatureError::Stale(drift));
    }
    for secret in secrets {
        for sig in &signatures {
            if mac(secret, t, body).verify_slice(sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_stripe_signature_verifies_and_every_alteration_fails() {
        let secrets = vec!["whsec_old".to_owned(), "whsec_new".to_owned()];
        let header = sign(BODY, "whsec_new", 1_000);
        assert_eq!(verify(BODY, Some(&header), &secrets, 1_000), Ok(()));
        assert_eq!(verify(BODY, Some(&header), &secrets, 1_300), Ok(()), "at the tolerance");
        assert_eq!(
            verify(BODY, Some(&header), &secrets, 1_301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify(BODY, Some(&header), &secrets, 600),
            Err(SignatureError::Stale(400))
        );
        assert_eq!(
            verify(b"{\"id\":\"evt_2\"}", Some(&header), &secrets, 1_000),
            Err(SignatureError::Mismatch),
            "tampered body"
        );
        let retimed = header.replace("t=1000", "t=1001");
        assert_eq!(
            verify(BODY, Some(&retimed), &secrets, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(BODY, Some(&header), &["whsec_other".to_owned()], 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(BODY, None, &secrets, 1_000), Err(SignatureError::Missing));
        assert_eq!(
            verify(BODY, Some("garbage"), &secrets, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some("t=1000"), &secrets, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(verify(BODY, Some(&header), &[], 1_000), Err(SignatureError::NoSecret));
        // Several v1 entries (Stripe sends one per active secret): any match counts.
        let two = format!(
            "{},v1={}",
            sign(BODY, "whsec_x", 1_000),
            &header[header.find("v1=").unwrap() + 3..]
        );
        assert_eq!(verify(BODY, Some(&two), &secrets, 1_000), Ok(()));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("secret", "1.{}") computed independently (python hmac module).
        assert_eq!(
            sign(b"{}", "secret", 1),
            "t=1,v1=1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908"
        );
    }
}
