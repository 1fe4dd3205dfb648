//! This instance's memory of sessions and holdings (issue 16): a signed-in page reads who is
//! calling and what they hold from here instead of from the database, for as long as the
//! database's access-change feed proves that nothing about them changed.
//!
//! How it stays correct with many instances (see `docs/ARCHITECTURE.md`, "Signed-in speed"):
//! * every committed change to a session, a membership or an entitlement is announced by the
//!   database (Postgres triggers → `NOTIFY keys_access`), whoever made it; the feed
//!   (`storage_sql::AccessFeed`) tells [`AccessCache::changed`], which drops that account's
//!   sessions and holdings;
//! * the cache trusts its entries only for [`TRUST`] after the *send* time of the last
//!   heartbeat that came back through the feed (changes arrive in commit order, so everything
//!   committed before a heartbeat was sent has been told by then): a stalled or lost feed turns
//!   the cache off within [`TRUST`], and [`AccessCache::lost`] empties it;
//! * an entry read from the database is kept only when no change was told and the feed stayed
//!   trusted since before the read began (the `Ticket`), so a change that lands during the
//!   read is never papered over;
//! * entries live at most [`MAX_AGE`], and misses are never cached;
//! * read-your-writes on the instance that made a change: after every request that may change
//!   access (`settle`), the instance sends a heartbeat and waits (≤ [`SETTLE`]) until it
//!   comes back, so the change's own notification has been applied before the client hears
//!   the answer; if it does not come back in time the cache empties itself.
//!
//! Without a feed (SQLite) the cache is never trusted: every request reads the database, as
//! before. Download redemption never reads from here (`links::serve` re-checks the database).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use accounts::ports::{AccountId, Session};
use chrono::{DateTime, Utc};
use entitlements::ports::AccessChanges;
use entitlements::{ByKey, Entitlement, Principal, UserId};

use crate::AppState;

/// How long after a heartbeat's send time entries are trusted.
pub const TRUST: Duration = Duration::from_millis(700);
/// The longest an entry is kept, feed or not.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// The longest a state-changing request waits for its heartbeat to come back.
pub const SETTLE: Duration = Duration::from_secs(1);

/// What an account holds now: its principal (itself and the organisations it belongs to *now*,
/// so a removed member loses the organisation's entitlements on the next request), every
/// entitlement of that principal, and the organisations' names (for "via organisation Acme").
pub(crate) struct Holdings {
    pub(crate) principal: Principal,
    pub(crate) entitlements: Vec<Entitlement>,
    pub(crate) org_names: Vec<(i64, String)>,
    /// The organisations the account owns or administers (it may buy for them).
    pub(crate) managed: Vec<(i64, String)>,
    by_key: OnceLock<ByKey>,
}

impl Holdings {
    pub(crate) fn new(
        principal: Principal,
        entitlements: Vec<Entitlement>,
        org_names: Vec<(i64, String)>,
        managed: Vec<(i64, String)>,
    ) -> Self {
        Self {
            principal,
            entitlements,
            org_names,
            managed,
            by_key: OnceLock::new(),
        }
    }

    /// The entitlements that could cover `slug` (indexed on first use, so a buyer holding
    /// 100 000 entitlements is not scanned at every request); `can_access` over them answers
    /// as over all of them.
    pub(crate) fn for_key(&self, slug: &catalog::Slug) -> Vec<Entitlement> {
        self.by_key
            .get_or_init(|| ByKey::new(&self.entitlements))
            .candidates(&self.entitlements, slug)
    }
}

/// Proof that the cache was trusted and unchanged when a database read began.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

struct Inner {
    /// Bumped by every change told and by a lost feed.
    generation: u64,
    trusted_until: Option<Instant>,
    sessions: HashMap<String, (Session, Instant)>,
    holdings: HashMap<i64, (Arc<Holdings>, Instant)>,
}

/// Sessions by token digest and holdings by account, trusted while the access feed is live.
pub struct AccessCache {
    inner: RwLock<Inner>,
    capacity: usize,
    /// The send time of the latest heartbeat that came back.
    heard: tokio::sync::watch::Sender<Option<Instant>>,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.read();
        f.debug_struct("AccessCache")
            .field("sessions", &inner.sessions.len())
            .field("holdings", &inner.holdings.len())
            .finish_non_exhaustive()
    }
}

impl AccessCache {
    /// A cache of at most `capacity` sessions and `capacity` holdings (when full, it starts
    /// over). It trusts nothing until a feed says it is alive.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                generation: 0,
                trusted_until: None,
                sessions: HashMap::new(),
                holdings: HashMap::new(),
            }),
            capacity: capacity.max(1),
            heard: tokio::sync::watch::Sender::new(None),
        }
    }

    /// Waits until a heartbeat sent at or after `sent` has come back (at most [`SETTLE`]);
    /// when it does not, trusts nothing until the next one.
    pub(crate) async fn settled(&self, sent: Instant) {
        let mut heard = self.heard.subscribe();
        let back = tokio::time::timeout(SETTLE, heard.wait_for(|h| h.is_some_and(|h| h >= sent))).await;
        if !matches!(back, Ok(Ok(_))) {
            tracing::warn!("the access feed did not answer within {SETTLE:?}; this instance's cache is emptied");
            AccessChanges::lost(self);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn trusted(inner: &Inner, at: Instant) -> bool {
        inner.trusted_until.is_some_and(|t| at < t)
    }

    /// Whether entries may be used now.
    #[must_use]
    pub fn is_trusted(&self) -> bool {
        Self::trusted(&self.read(), Instant::now())
    }

    /// A ticket for a database read about to begin, when the cache is trusted.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        let inner = self.read();
        Self::trusted(&inner, Instant::now()).then_some(Ticket(inner.generation))
    }

    /// The live session with this token digest, when known.
    pub(crate) fn session(&self, digest: &str, now: DateTime<Utc>) -> Option<Session> {
        let at = Instant::now();
        let inner = self.read();
        if !Self::trusted(&inner, at) {
            return None;
        }
        let (session, stored) = inner.sessions.get(digest)?;
        (at.duration_since(*stored) < MAX_AGE && session.expires_at > now).then(|| session.clone())
    }

    /// What `account` holds, when known.
    pub(crate) fn holdings(&self, account: AccountId) -> Option<Arc<Holdings>> {
        let at = Instant::now();
        let inner = self.read();
        if !Self::trusted(&inner, at) {
            return None;
        }
        let (holdings, stored) = inner.holdings.get(&account.0)?;
        (at.duration_since(*stored) < MAX_AGE).then(|| Arc::clone(holdings))
    }

    /// Keeps `session`, read from the database under `ticket`, unless something changed since.
    pub(crate) fn put_session(&self, ticket: Ticket, session: Session) {
        let at = Instant::now();
        let mut inner = self.write();
        if inner.generation != ticket.0 || !Self::trusted(&inner, at) {
            return;
        }
        if inner.sessions.len() >= self.capacity {
            inner.sessions.clear();
        }
        inner.sessions.insert(session.token_digest.clone(), (session, at));
    }

    /// Keeps `holdings`, read from the database under `ticket`, unless something changed since.
    pub(crate) fn put_holdings(&self, ticket: Ticket, holdings: Arc<Holdings>) {
        let at = Instant::now();
        let mut inner = self.write();
        if inner.generation != ticket.0 || !Self::trusted(&inner, at) {
            return;
        }
        if inner.holdings.len() >= self.capacity {
            inner.holdings.clear();
        }
        inner.holdings.insert(holdings.principal.user.0, (holdings, at));
    }
}

impl AccessChanges for AccessCache {
    fn changed(&self, account: UserId) {
        let mut inner = self.write();
        inner.generation += 1;
        inner.holdings.remove(&account.0);
        inner.sessions.retain(|_, (s, _)| s.account != account);
    }

    fn alive(&self, sent: Instant) {
        {
            let mut inner = self.write();
            let until = sent + TRUST;
            if inner.trusted_until.is_none_or(|t| t < until) {
                inner.trusted_until = Some(until);
            }
        }
        self.heard.send_if_modified(|h| {
            let newer = h.is_none_or(|h| h < sent);
            if newer {
                *h = Some(sent);
            }
            newer
        });
    }

    fn lost(&self) {
        let mut inner = self.write();
        inner.generation += 1;
        inner.trusted_until = None;
        inner.sessions.clear();
        inner.holdings.clear();
    }
}

/// State-changing routes that never change a session, a membership or an entitlement, so
/// they need not wait for the feed: asking for a download link, storing a webhook (the worker
/// applies it later), recording discovery answers and signals.
fn never_changes_access(path: &str) -> bool {
    ((path.starts_with("/api/v1/keys/") || path.starts_with("/marketplace/")) && path.ends_with("/download"))
        || path == "/webhooks/stripe"
        || path == "/api/v1/signals"
        || path == "/discover"
}

/// The middleware (see [`crate::app`]): after a state-changing request (any method but
/// `GET`, `HEAD`, `OPTIONS`, on a route that may change access), while the cache is trusted,
/// waits until this instance has heard every access change the request committed — so the
/// same client's next request, on this instance, never sees the session or holdings from
/// before its own change.
pub(crate) async fn settle<E: poem::Endpoint>(next: E, req: poem::Request) -> poem::Result<poem::Response> {
    use poem::http::Method;
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !never_changes_access(req.uri().path());
    let state = if changes {
        req.extensions().get::<AppState>().cloned()
    } else {
        None
    };
    let resp = next.get_response(req).await;
    if let Some(state) = state
        && let Some(sync) = &state.access.sync
        && state.access.cache.is_trusted()
    {
        match sync.sync().await {
            Ok(sent) => state.access.cache.settled(sent).await,
            Err(e) => {
                tracing::warn!(error = %e, "access feed heartbeat not sent; this instance's cache is emptied");
                AccessChanges::lost(state.access.cache.as_ref());
            }
        }
    }
    Ok(resp)
}

/// Reads [`Holdings`]: from this instance's cache when it is trusted, else one memberships
/// query and one entitlements query (kept when nothing changed meanwhile).
pub(crate) async fn holdings(state: &AppState, account: AccountId) -> Result<Arc<Holdings>, String> {
    let cache = &state.access.cache;
    if let Some(h) = cache.holdings(account) {
        return Ok(h);
    }
    let ticket = cache.ticket();
    let orgs = state
        .identity
        .orgs
        .memberships(account)
        .await
        .map_err(|e| e.to_string())?;
    let principal = Principal {
        user: account,
        organisations: orgs.iter().map(|(o, _)| o.id).collect(),
    };
    let entitlements = state
        .access
        .entitlements
        .for_principal(&principal)
        .await
        .map_err(|e| e.to_string())?;
    let managed = orgs
        .iter()
        .filter(|(_, role)| role.manages())
        .map(|(o, _)| (o.id.0, o.name.clone()))
        .collect();
    let org_names = orgs.into_iter().map(|(o, _)| (o.id.0, o.name)).collect();
    let h = Arc::new(Holdings::new(principal, entitlements, org_names, managed));
    if let Some(t) = ticket {
        cache.put_holdings(t, Arc::clone(&h));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    fn session(digest: &str, account: i64) -> Session {
        Session {
            token_digest: digest.into(),
            account: AccountId(account),
            csrf_token: "c".into(),
            created_at: now(),
            expires_at: now() + chrono::Duration::days(1),
        }
    }

    fn holding(account: i64) -> Arc<Holdings> {
        Arc::new(Holdings::new(
            Principal {
                user: AccountId(account),
                organisations: vec![],
            },
            vec![],
            vec![],
            vec![],
        ))
    }

    #[test]
    fn nothing_is_trusted_without_a_heartbeat_and_nothing_is_kept() {
        let cache = AccessCache::new(10);
        assert!(cache.ticket().is_none(), "no feed (SQLite): no tickets");
        assert!(!cache.is_trusted());
        cache.alive(Instant::now());
        let t = cache.ticket().unwrap();
        cache.put_session(t, session("d1", 1));
        cache.put_holdings(t, holding(1));
        assert!(cache.session("d1", now()).is_some());
        assert!(cache.holdings(AccountId(1)).is_some());
        cache.lost();
        assert!(cache.session("d1", now()).is_none(), "a lost feed trusts nothing");
        cache.alive(Instant::now());
        assert!(cache.session("d1", now()).is_none(), "and forgot everything");
    }

    #[test]
    fn trust_ends_a_fixed_time_after_the_last_heartbeat_was_sent() {
        let cache = AccessCache::new(10);
        let old = Instant::now().checked_sub(TRUST + Duration::from_millis(1)).unwrap();
        cache.alive(old);
        assert!(
            !cache.is_trusted(),
            "a heartbeat sent longer than TRUST ago proves nothing now"
        );
        cache.alive(Instant::now());
        assert!(cache.is_trusted());
        cache.alive(old);
        assert!(cache.is_trusted(), "an older heartbeat never shortens the trust");
    }

    #[test]
    fn a_change_drops_the_account_and_refuses_reads_that_began_before_it() {
        let cache = AccessCache::new(10);
        cache.alive(Instant::now());
        let t = cache.ticket().unwrap();
        cache.put_session(t, session("d1", 1));
        cache.put_session(t, session("d2", 1));
        cache.put_session(t, session("d3", 2));
        cache.put_holdings(t, holding(1));
        cache.put_holdings(t, holding(2));
        let before = cache.ticket().unwrap();
        cache.changed(AccountId(1));
        assert!(cache.session("d1", now()).is_none() && cache.session("d2", now()).is_none());
        assert!(cache.holdings(AccountId(1)).is_none());
        assert!(cache.session("d3", now()).is_some() && cache.holdings(AccountId(2)).is_some());
        cache.put_holdings(before, holding(1));
        assert!(
            cache.holdings(AccountId(1)).is_none(),
            "a read that began before the change is not kept"
        );
        cache.put_holdings(cache.ticket().unwrap(), holding(1));
        assert!(cache.holdings(AccountId(1)).is_some());
    }

    #[test]
    fn expired_sessions_are_not_served_and_a_full_cache_starts_over() {
        let cache = AccessCache::new(2);
        cache.alive(Instant::now());
        let t = cache.ticket().unwrap();
        cache.put_session(t, session("d1", 1));
        assert!(cache.session("d1", now() + chrono::Duration::days(2)).is_none());
        cache.put_session(t, session("d2", 2));
        cache.put_session(t, session("d3", 3));
        assert!(cache.session("d1", now()).is_none(), "full: started over");
        assert!(cache.session("d3", now()).is_some());
    }

    #[tokio::test]
    async fn settling_waits_for_the_heartbeat_and_empties_the_cache_when_it_never_comes() {
        let cache = Arc::new(AccessCache::new(10));
        cache.alive(Instant::now());
        let t = cache.ticket().unwrap();
        cache.put_holdings(t, holding(1));
        let sent = Instant::now();
        let waiting = tokio::spawn({
            let cache = Arc::clone(&cache);
            async move { cache.settled(sent).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "an older heartbeat does not settle a newer change"
        );
        cache.alive(sent);
        waiting.await.unwrap();
        assert!(cache.holdings(AccountId(1)).is_some(), "settled: the cache is kept");
        cache.settled(Instant::now()).await;
        assert!(!cache.is_trusted(), "no answer: nothing is trusted");
        assert!(cache.holdings(AccountId(1)).is_none());
    }

    #[test]
    fn only_routes_that_cannot_change_access_skip_the_wait() {
        for skip in [
            "/api/v1/keys/pg-failover/download",
            "/marketplace/pg-failover/download",
            "/webhooks/stripe",
            "/api/v1/signals",
            "/discover",
        ] {
            assert!(never_changes_access(skip), "{skip}");
        }
        for wait in [
            "/api/v1/auth/logout",
            "/api/v1/auth/login",
            "/api/v1/checkout",
            "/api/v1/admin/entitlements",
            "/api/v1/orgs/3/members/4",
            "/logout",
            "/join/abc",
            "/pay/local/cs_1",
        ] {
            assert!(!never_changes_access(wait), "{wait}");
        }
    }
}
