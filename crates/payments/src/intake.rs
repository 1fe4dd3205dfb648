//! The one intake of payment events: a delivery is verified (signature, against every secret
//! in rotation, within the tolerance), parsed as a Stripe event, and stored in the inbox for
//! the worker. Stripe's webhooks and the local payment mode's events both come in here.

use chrono::{DateTime, Utc};

use crate::events::{EventError, parse_envelope};
use crate::ports::{InboxError, InboxRepository};
use crate::signature::{self, SignatureError};

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Signature missing, wrong or stale.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a Stripe event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The inbox could not store it (the sender retries).
    #[error(transparent)]
    Store(#[from] InboxError),
}

/// Verifies a delivery and stores it in the inbox. `Ok(false)`: a duplicate (already stored).
///
/// # Errors
/// [`WebhookError`]; nothing is stored then.
pub async fn receive(
    inbox: &dyn InboxRepository,
    secrets: &[String],
    now: DateTime<Utc>,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<bool, WebhookError> {
    signature::verify(body, signature_header, secrets, now.timestamp())?;
    let env = parse_envelope(body)?;
    let payload = std::str::from_utf8(body).map_err(|_| EventError::NotJson("not UTF-8".into()))?;
    Ok(inbox.intake(&env, payload, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockInboxRepository;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    const BODY: &str = r#"{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"livemode":false,"data":{"object":{"id":"in_1","object":"invoice"}}}"#;

    #[test]
    fn a_signed_event_is_stored_once_and_anything_else_never() {
        futures::executor::block_on(async {
            let mut inbox = MockInboxRepository::new();
            inbox.expect_intake().times(1).returning(|_, _, _| Ok(true));
            let secrets = vec!["whsec_old".to_owned(), "whsec_new".to_owned()];
            let good = signature::sign(BODY.as_bytes(), "whsec_new", now().timestamp());
            assert!(
                receive(&inbox, &secrets, now(), BODY.as_bytes(), Some(&good))
                    .await
                    .unwrap()
            );

            let foreign = signature::sign(BODY.as_bytes(), "whsec_someone_else", now().timestamp());
            let stale = signature::sign(BODY.as_bytes(), "whsec_new", now().timestamp() - 3_600);
            for header in [None, Some(foreign.as_str()), Some(stale.as_str())] {
                assert!(matches!(
                    receive(&inbox, &secrets, now(), BODY.as_bytes(), header).await,
                    Err(WebhookError::Signature(_))
                ));
            }
            let not_event = b"{\"hello\":1}";
            let signed = signature::sign(not_event, "whsec_new", now().timestamp());
            assert!(matches!(
                receive(&inbox, &secrets, now(), not_event, Some(&signed)).await,
                Err(WebhookError::Event(_))
            ));
        });
    }
}
