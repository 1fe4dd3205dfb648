//! The account, session and throttle stores behind the real `AccountService`, on SQLite and
//! Postgres; two service instances over one database behave as one (sessions and throttles are
//! shared, nothing lives in a process).

use std::sync::Arc;

use accounts::{AccountPolicy, AccountService, InlineHasher, SignInError, SignUpError};
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
    AccountService::new(
        store.clone(),
        store.clone(),
        store,
        Arc::new(InlineHasher),
        AccountPolicy::default(),
    )
    .unwrap()
}

const PW: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_sessions_and_throttles_are_shared_by_instances() {
    for db in test_support::databases().await {
        let a = service(&db.url).await;
        let b = service(&db.url).await;

        // The same email signing up on two instances at once: exactly one account.
        let (r1, r2) = tokio::join!(
            a.sign_up("ada@example.com", PW, "127.0.0.1", at(0)),
            b.sign_up("Ada@Example.com", PW, "127.0.0.1", at(0))
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

        // Failures on either instance count towards one limit: three free guesses from an
        // address, then that address waits (even with the right password)…
        for i in 0..3 {
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
                b.sign_in("ada@example.com", PW, "127.0.0.2", at(10)).await,
                Err(SignInError::Throttled { .. })
            ),
            "{db:?}"
        );
        // …while the owner, from their own address, is not locked out.
        assert!(
            a.sign_in("ada@example.com", PW, "127.0.0.3", at(10)).await.is_ok(),
            "{db:?}: the owner gets in"
        );
        assert!(
            a.sign_in("ada@example.com", PW, "127.0.0.2", at(11)).await.is_ok(),
            "{db:?}: the wait is over, and success clears it"
        );
        assert!(
            b.sign_in("ada@example.com", "wrong password!", "127.0.0.2", at(12))
                .await
                .is_err()
        );
        assert!(
            b.sign_in("ada@example.com", PW, "127.0.0.2", at(12)).await.is_ok(),
            "{db:?}: cleared after success"
        );
    }
}

/// Ten wrong guesses at once, spread over two instances: check and record are one atomic step
/// in the database, so no more than the free allowance is ever judged (it used to be 8 of a
/// limit of 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_never_slip_past_the_throttle() {
    for db in test_support::databases().await {
        let a = Arc::new(service(&db.url).await);
        let b = Arc::new(service(&db.url).await);
        a.sign_up("ada@example.com", PW, "10.0.0.1", at(0)).await.unwrap();
        let guesses = (0..10).map(|i| {
            let svc = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                svc.sign_in("ada@example.com", "wrong password!", "10.6.6.6", at(5))
                    .await
            })
        });
        let mut judged = 0;
        let mut slowed = 0;
        for g in guesses {
            match g.await.unwrap() {
                Err(SignInError::InvalidCredentials) => judged += 1,
                Err(SignInError::Throttled { .. }) => slowed += 1,
                other => panic!("{db:?}: {other:?}"),
            }
        }
        let free = AccountPolicy::default().per_pair.free as usize;
        assert_eq!((judged, slowed), (free, 10 - free), "{db:?}");
    }
}

/// Sessions end everywhere, and the housekeeping purges expired and revoked ones.
#[tokio::test]
async fn sessions_end_everywhere_and_dead_ones_are_purged() {
    for db in test_support::databases().await {
        let a = service(&db.url).await;
        let (account, first) = a.sign_up("ada@example.com", PW, "10.0.0.1", at(0)).await.unwrap();
        let second = a.sign_in("ada@example.com", PW, "10.0.0.1", at(1)).await.unwrap();
        let third = a.sign_in("ada@example.com", PW, "10.0.0.1", at(2)).await.unwrap();
        assert_eq!(
            a.sign_out_everywhere(account.id, Some(&first.token), at(3))
                .await
                .unwrap(),
            2,
            "{db:?}"
        );
        assert!(a.authenticate(&first.token, at(4)).await.unwrap().is_some());
        assert!(a.authenticate(&second.token, at(4)).await.unwrap().is_none());
        assert!(a.authenticate(&third.token, at(4)).await.unwrap().is_none());
        // Revoked sessions go at the next purge; the live one stays until it expires.
        let (sessions, _) = a.purge(at(5)).await.unwrap();
        assert_eq!(sessions, 2, "{db:?}");
        assert!(a.authenticate(&first.token, at(6)).await.unwrap().is_some());
        let (sessions, _) = a.purge(at(0) + Duration::days(31)).await.unwrap();
        assert_eq!(sessions, 1, "{db:?}: expired");
    }
}

/// The admin role: granted and revoked only through the operator's command (here its
/// service), with an audit line each; signing up never makes an admin.
#[tokio::test]
async fn the_admin_role_is_stored_and_audited() {
    use accounts::ports::{AccountRepository, AdminChange};
    for db in test_support::databases().await {
        let svc = service(&db.url).await;
        let store = SqlAccountStore::new(connect(&db.url, 2).await.unwrap());
        let (a, _) = svc.sign_up("Admin@Example.com", PW, "10.0.0.1", at(0)).await.unwrap();
        assert!(!a.admin && !svc.is_admin(a.id).await.unwrap(), "{db:?}");
        assert!(matches!(
            svc.set_admin("admin@example.com", true, "root", at(1)).await,
            Ok(AdminChange::Changed(x)) if x.admin
        ));
        assert!(svc.is_admin(a.id).await.unwrap());
        assert!(matches!(
            svc.set_admin("ADMIN@example.com", true, "root", at(2)).await,
            Ok(AdminChange::Unchanged(_))
        ));
        assert_eq!(svc.admins().await.unwrap().len(), 1);
        svc.set_admin("admin@example.com", false, "ops", at(3)).await.unwrap();
        assert!(!svc.is_admin(a.id).await.unwrap());
        let audit = store.operator_audit().await.unwrap();
        assert_eq!(
            audit
                .iter()
                .map(|x| (x.action.as_str(), x.subject.as_str(), x.actor.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("admin_grant", "admin@example.com", "root"),
                ("admin_revoke", "admin@example.com", "ops")
            ],
            "{db:?}"
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
            .create_invite(&fresh.digest(), org.id, OrgRole::Admin, owner.id, at(0), at(60), None)
            .await
            .unwrap();
        store
            .create_invite(&stale.digest(), org.id, OrgRole::Member, owner.id, at(0), at(10), None)
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

        // Ada (admin) invites; the invite is listed; once Ada is removed it dies with her
        // membership and can no longer be accepted.
        let hers = SecretToken::generate("keys_inv_");
        let listed = store
            .create_invite(&hers.digest(), org.id, OrgRole::Member, ada.id, at(11), at(600), None)
            .await
            .unwrap();
        // Used and expired invites are not listed.
        let live = store.invites(org.id, at(12)).await.unwrap();
        assert_eq!(
            live.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
            vec![listed.id.clone()]
        );
        assert_eq!(live[0].created_by, ada.id);
        assert!(store.find_invite(&hers.digest(), at(12)).await.unwrap().is_some());
        assert!(OrgRepository::remove(&store, org.id, ada.id, at(13)).await.unwrap());
        assert!(store.invites(org.id, at(14)).await.unwrap().is_empty(), "{db:?}");
        assert_eq!(
            store.accept_invite(&hers.digest(), bob.id, at(14)).await.unwrap(),
            None,
            "{db:?}"
        );

        // An owner's invite can be revoked by id; a revoked one cannot be accepted.
        let owners = SecretToken::generate("keys_inv_");
        let inv = store
            .create_invite(
                &owners.digest(),
                org.id,
                OrgRole::Member,
                owner.id,
                at(15),
                at(600),
                None,
            )
            .await
            .unwrap();
        assert!(
            !store
                .revoke_invite(org.id, "inv_0000000000000000", at(16))
                .await
                .unwrap()
        );
        assert!(!store.revoke_invite(org.id, "not an id", at(16)).await.unwrap());
        assert!(store.revoke_invite(org.id, &inv.id, at(16)).await.unwrap(), "{db:?}");
        assert_eq!(
            store.accept_invite(&owners.digest(), bob.id, at(17)).await.unwrap(),
            None
        );
        let members = OrgRepository::member_list(&store, org.id).await.unwrap();
        assert_eq!(
            members.iter().map(|m| (m.email.as_str(), m.role)).collect::<Vec<_>>(),
            vec![("o@acme.test", OrgRole::Owner)],
            "{db:?}"
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
    use entitlements::{Actor, Holder, Scope, Source, Term};
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
        let pat = TokenRepository::create(
            &store,
            ada.id,
            "ci",
            accounts::TokenScope::Download,
            at(30),
            &token.digest(),
            at(0),
        )
        .await
        .unwrap();
        let reader = SecretToken::generate("keys_pat_");
        TokenRepository::create(
            &store,
            ada.id,
            "dashboard",
            accounts::TokenScope::Read,
            at(30),
            &reader.digest(),
            at(0),
        )
        .await
        .unwrap();

        let (sd, td) = (session.digest(), token.digest());
        let principal_of = |cred| {
            let repo = repo.clone();
            async move { repo.for_credential(cred, at(5)).await.unwrap() }
        };
        // Signed in, nothing held: the owner alone.
        let (p, list) = principal_of(Credential::Session(&sd)).await.expect("live");
        assert_eq!((p.user, p.organisations.len(), list.len()), (ada.id, 0, 0), "{db:?}");

        let grant = |holder, slug: &str| NewGrant {
            holder,
            scope: Scope::Key(slug.parse().unwrap()),
            source: Source::ManualGrant,
            term: Term::Perpetual,
            actor: Actor::Admin { user: bob.id },
            cause: "test".into(),
            at: at(1),
        };
        let own = repo.grant(&grant(Holder::User(ada.id), "own-kit")).await.unwrap();
        let org = repo
            .grant(&grant(Holder::Organisation(acme.id), "team-kit"))
            .await
            .unwrap();
        repo.grant(&grant(Holder::User(bob.id), "bobs-kit")).await.unwrap();

        // Not a member yet: own entitlement only, for both kinds of credential.
        for cred in [Credential::Session(&sd), Credential::Token(&td)] {
            let (_, list) = principal_of(cred).await.unwrap();
            assert_eq!(list, vec![own.clone()], "{db:?}");
        }
        let invite = SecretToken::generate("keys_inv_");
        store
            .create_invite(&invite.digest(), acme.id, OrgRole::Member, bob.id, at(0), at(30), None)
            .await
            .unwrap();
        store
            .accept_invite(&invite.digest(), ada.id, at(2))
            .await
            .unwrap()
            .expect("joined");
        let (p, list) = principal_of(Credential::Token(&td)).await.unwrap();
        assert_eq!(list, vec![own.clone(), org.clone()], "{db:?}: own and organisation's");
        assert_eq!(p.organisations, vec![acme.id]);
        OrgRepository::remove(&store, acme.id, ada.id, at(3)).await.unwrap();
        let (_, list) = principal_of(Credential::Session(&sd)).await.unwrap();
        assert_eq!(
            list,
            vec![own.clone()],
            "{db:?}: a removed member loses the organisation's at once"
        );

        // A `read` token never gets a download principal; an expired token resolves to nobody.
        let rd = reader.digest();
        assert!(principal_of(Credential::Token(&rd)).await.is_some());
        assert!(
            principal_of(Credential::DownloadToken(&rd)).await.is_none(),
            "{db:?}: read scope"
        );
        assert!(principal_of(Credential::DownloadToken(&td)).await.is_some());
        assert!(
            repo.for_credential(Credential::Token(&td), at(31))
                .await
                .unwrap()
                .is_none(),
            "{db:?}: expired token"
        );
        assert_eq!(
            TokenRepository::owner(&store, &td, at(31)).await.unwrap(),
            None,
            "{db:?}: expired token"
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
