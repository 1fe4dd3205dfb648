//! Access changes are announced (issue 16): on Postgres, every committed change to what an
//! account may access sends `NOTIFY keys_access, 'a:<account id>'` — whichever process, tool
//! or hand-written SQL made it — so that each server instance can keep sessions and holdings in
//! memory and drop an account's entry as soon as it changes:
//!
//! * `sessions` updated or deleted (sign-out, revoke, password reset, expiry purge);
//! * `memberships` inserted, updated or deleted (joined, role changed, removed, left);
//! * `entitlements` inserted, updated or deleted — for an organisation's entitlement, every
//!   current member is named;
//! * `organisations` renamed or deleted (the names shown with "via organisation …"; a `BEFORE`
//!   trigger, so the members are still there to be named).
//!
//! Notifications are sent at commit, in commit order, and only for committed transactions; a
//! transaction naming one account many times sends it once. SQLite has no notifications: the
//! servers there do not cache (see `docs/ARCHITECTURE.md`, "Signed-in speed").

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// The channel access changes are announced on.
pub const ACCESS_CHANNEL: &str = "keys_access";

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r"
CREATE OR REPLACE FUNCTION keys_access_of_holder(kind TEXT, id BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF kind = 'user' THEN
        PERFORM pg_notify('keys_access', 'a:' || id);
    ELSE
        PERFORM pg_notify('keys_access', 'a:' || m.account_id) FROM memberships m WHERE m.org_id = id;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION keys_access_account_row() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('keys_access', 'a:' || OLD.account_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('keys_access', 'a:' || NEW.account_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keys_access_entitlement_row() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM keys_access_of_holder(OLD.holder_kind, OLD.holder_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM keys_access_of_holder(NEW.holder_kind, NEW.holder_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION keys_access_organisation_row() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM keys_access_of_holder('organisation', OLD.id);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER keys_access_sessions AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION keys_access_account_row();
CREATE TRIGGER keys_access_memberships AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION keys_access_account_row();
CREATE TRIGGER keys_access_entitlements AFTER INSERT OR UPDATE OR DELETE ON entitlements
    FOR EACH ROW EXECUTE FUNCTION keys_access_entitlement_row();
CREATE TRIGGER keys_access_organisations BEFORE UPDATE OR DELETE ON organisations
    FOR EACH ROW EXECUTE FUNCTION keys_access_organisation_row();
";

const DOWN: &str = r"
DROP TRIGGER IF EXISTS keys_access_sessions ON sessions;
DROP TRIGGER IF EXISTS keys_access_memberships ON memberships;
DROP TRIGGER IF EXISTS keys_access_entitlements ON entitlements;
DROP TRIGGER IF EXISTS keys_access_organisations ON organisations;
DROP FUNCTION IF EXISTS keys_access_organisation_row();
DROP FUNCTION IF EXISTS keys_access_entitlement_row();
DROP FUNCTION IF EXISTS keys_access_account_row();
DROP FUNCTION IF EXISTS keys_access_of_holder(TEXT, BIGINT);
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
