//! The account, session and throttle stores behind the real `AccountService`, on SQLite and
//! Postgres; two service instances over one database behave as one (sessions and throttles are
//! shared, nothing lives in a process).

use std::sync::Arc;

use accounts::{AccountPolicy, AccountService, SignInError, SignUpError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use storage_sql::{SqlAccountStore, connect};

fn at(min: i64) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 2)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc()
        + Duration::minutes(min)
}

async fn service(url: &str) -> AccountService {
    let store = Arc::new(SqlAccountStore::new(connect(url, 4).await.unwrap()));
    AccountService::new(store.clone(), store.clone(), store, AccountPolicy::default()).unwrap()
}

const PW: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_sessions_and_throttles_are_shared_by_instances() {
    for db in test_support::databases().await {
        let a = service(&db.url).await;
        let b = service(&db.url).await;

        // The same email signing up on two instances at once: exactly one account.
        let (r1, r2) = tokio::join!(
            a.sign_up("ada@example.com", PW, at(0)),
            b.sign_up("Ada@Example.com", PW, at(0))
        );
        let oks = [r1.is_ok(), r2.is_ok()];
        assert_eq!(oks.iter().filter(|x| **x).count(), 1, "{db:?}: {oks:?}");
        assert!(
            matches!(r1.as_ref().err().or(r2.as_ref().err()), Some(SignUpError::EmailTaken)),
            "{db:?}"
        );

        // A session opened on one instance is valid on the other, until signed out there.
        let s = a.sign_in("ada@example.com", PW, "127.0.0.1", at(1)).await.unwrap();
        let seen = b.authenticate(&s.token, at(2)).await.unwrap().expect("shared session");
        assert_eq!(seen.csrf_token, s.csrf_token);
        b.sign_out(&s.token, at(3)).await.unwrap();
        assert!(
            a.authenticate(&s.token, at(4)).await.unwrap().is_none(),
            "{db:?}: revoked everywhere"
        );
        assert!(
            a.authenticate(&s.token, at(0) + Duration::days(31))
                .await
                .unwrap()
                .is_none()
        );

        // Failures on either instance count towards one limit.
        for i in 0..5 {
            let svc = if i % 2 == 0 { &a } else { &b };
            assert_eq!(
                svc.sign_in("ada@example.com", "wrong password!", "127.0.0.2", at(10))
                    .await
                    .unwrap_err(),
                SignInError::InvalidCredentials
            );
        }
        assert!(
            matches!(
                b.sign_in("ada@example.com", PW, "127.0.0.3", at(11)).await,
                Err(SignInError::Throttled { .. })
            ),
            "{db:?}"
        );
        assert!(
            a.sign_in("ada@example.com", PW, "127.0.0.3", at(26)).await.is_ok(),
            "{db:?}: lock over, success clears it"
        );
        assert!(
            b.sign_in("ada@example.com", "wrong password!", "127.0.0.3", at(27))
                .await
                .is_err()
        );
        assert!(
            b.sign_in("ada@example.com", PW, "127.0.0.3", at(27)).await.is_ok(),
            "{db:?}: cleared after success"
        );
    }
}

/// Invites: single use, expire, and add the invitee with the invited role.
#[tokio::test]
async fn invites_are_single_use_and_expire() {
    use accounts::ports::{AccountRepository, OrgRepository};
    use accounts::{OrgRole, SecretToken};
    for db in test_support::databases().await {
        let store = SqlAccountStore::new(connect(&db.url, 2).await.unwrap());
        let owner = AccountRepository::create(&store, &"o@acme.test".parse().unwrap(), "h", at(0))
            .await
            .unwrap();
        let ada = AccountRepository::create(&store, &"a@acme.test".parse().unwrap(), "h", at(0))
            .await
            .unwrap();
        let bob = AccountRepository::create(&store, &"b@acme.test".parse().unwrap(), "h", at(0))
            .await
            .unwrap();
        let org = OrgRepository::create(&store, "Acme", owner.id, at(0)).await.unwrap();
        let fresh = SecretToken::generate("keys_inv_");
        let stale = SecretToken::generate("keys_inv_");
        store
            .create_invite(&fresh.digest(), org.id, OrgRole::Admin, owner.id, at(60))
            .await
            .unwrap();
        store
            .create_invite(&stale.digest(), org.id, OrgRole::Member, owner.id, at(10))
            .await
            .unwrap();
        assert_eq!(
            store.accept_invite(&stale.digest(), bob.id, at(11)).await.unwrap(),
            None,
            "{db:?}: expired"
        );
        let m = store
            .accept_invite(&fresh.digest(), ada.id, at(5))
            .await
            .unwrap()
            .expect("accepted");
        assert_eq!(m.role, OrgRole::Admin);
        assert_eq!(
            store.accept_invite(&fresh.digest(), bob.id, at(6)).await.unwrap(),
            None,
            "{db:?}: single use"
        );
        let members = store.members(org.id).await.unwrap();
        assert_eq!(
            members.iter().map(|m| (m.account, m.role)).collect::<Vec<_>>(),
            vec![(owner.id, OrgRole::Owner), (ada.id, OrgRole::Admin)]
        );
    }
}

/// The download hot path: one statement returns the credential's owner and every entitlement
/// they hold personally or through a *current* membership; expired, revoked or unknown
/// credentials return nothing.
#[tokio::test]
async fn credentials_resolve_to_principal_and_entitlements_in_one_read() {
    use accounts::ports::{AccountRepository, OrgRepository, Session, SessionRepository, TokenRepository};
    use accounts::{OrgRole, SecretToken};
    use entitlements::ports::{Credential, EntitlementRepository, NewGrant};
    use entitlements::{Actor, Holder, OrgId, Scope, Source, Term, UserId};
    use storage_sql::SqlEntitlementRepository;
    for db in test_support::databases().await {
        let conn = connect(&db.url, 2).await.unwrap();
        let store = SqlAccountStore::new(conn.clone());
        let repo = SqlEntitlementRepository::new(conn);
        let ada = AccountRepository::create(&store, &"ada@acme.test".parse().unwrap(), "h", at(0))
            .await
            .unwrap();
        let bob = AccountRepository::create(&store, &"bob@acme.test".parse().unwrap(), "h", at(0))
            .await
            .unwrap();
        let acme = OrgRepository::create(&store, "Acme", bob.id, at(0)).await.unwrap();
        let session = SecretToken::generate("keys_s_");
        SessionRepository::create(
            &store,
            &Session {
                token_digest: session.digest(),
                account: ada.id,
                csrf_token: "c".into(),
                created_at: at(0),
                expires_at: at(60),
            },
        )
        .await
        .unwrap();
        let token = SecretToken::generate("keys_pat_");
        let pat = TokenRepository::create(&store, ada.id, "ci", &token.digest(), at(0))
            .await
            .unwrap();

        let (sd, td) = (session.digest(), token.digest());
        let principal_of = |cred| {
            let repo = repo.clone();
            async move { repo.for_credential(cred, at(5)).await.unwrap() }
        };
        // Signed in, nothing held: the owner alone.
        let (p, list) = principal_of(Credential::Session(&sd)).await.expect("live");
        assert_eq!(
            (p.user, p.organisations.len(), list.len()),
            (UserId(ada.id.0), 0, 0),
            "{db:?}"
        );

        let grant = |holder, slug: &str| NewGrant {
            holder,
            scope: Scope::Key(slug.parse().unwrap()),
            source: Source::ManualGrant,
            term: Term::Perpetual,
            actor: Actor::Admin { user: UserId(bob.id.0) },
            cause: "test".into(),
            at: at(1),
        };
        let own = repo
            .grant(&grant(Holder::User(UserId(ada.id.0)), "own-kit"))
            .await
            .unwrap();
        let org = repo
            .grant(&grant(Holder::Organisation(OrgId(acme.id.0)), "team-kit"))
            .await
            .unwrap();
        repo.grant(&grant(Holder::User(UserId(bob.id.0)), "bobs-kit"))
            .await
            .unwrap();

        // Not a member yet: own entitlement only, for both kinds of credential.
        for cred in [Credential::Session(&sd), Credential::Token(&td)] {
            let (_, list) = principal_of(cred).await.unwrap();
            assert_eq!(list, vec![own.clone()], "{db:?}");
        }
        let invite = SecretToken::generate("keys_inv_");
        store
            .create_invite(&invite.digest(), acme.id, OrgRole::Member, bob.id, at(30))
            .await
            .unwrap();
        store
            .accept_invite(&invite.digest(), ada.id, at(2))
            .await
            .unwrap()
            .expect("joined");
        let (p, list) = principal_of(Credential::Token(&td)).await.unwrap();
        assert_eq!(list, vec![own.clone(), org.clone()], "{db:?}: own and organisation's");
        assert_eq!(p.organisations, vec![OrgId(acme.id.0)]);
        OrgRepository::remove(&store, acme.id, ada.id).await.unwrap();
        let (_, list) = principal_of(Credential::Session(&sd)).await.unwrap();
        assert_eq!(
            list,
            vec![own.clone()],
            "{db:?}: a removed member loses the organisation's at once"
        );

        // Unknown, expired and revoked credentials resolve to nobody.
        assert!(principal_of(Credential::Session("nope")).await.is_none());
        assert!(
            repo.for_credential(Credential::Session(&sd), at(61))
                .await
                .unwrap()
                .is_none(),
            "{db:?}: expired session"
        );
        SessionRepository::revoke(&store, &session.digest(), at(6))
            .await
            .unwrap();
        assert!(principal_of(Credential::Session(&sd)).await.is_none());
        assert!(TokenRepository::revoke(&store, ada.id, pat.id, at(6)).await.unwrap());
        assert!(
            principal_of(Credential::Token(&td)).await.is_none(),
            "{db:?}: revoked token"
        );
    }
}
