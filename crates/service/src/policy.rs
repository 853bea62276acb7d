//! The tailnet's ACL policy file: reading it, saving it (checked, its `tests` run, guarded
//! against lost updates), its history, and the tag-ownership rule that key creation and node
//! tagging enforce.
//!
//! Storage: every save is a new revision (see `keygate_store::PolicyRevision`); the newest is
//! in force, and with none saved the default policy ([`keygate_policy::DEFAULT_POLICY`], allow
//! everything) is. A revision's number is its ETag (`"7"`, and `"0"` for the default policy):
//! a save that names the ETag it started from (`If-Match`) is stored only if no other save
//! came in between, which the store guarantees even for concurrent saves.
//!
//! Tags: while the policy has no `tagOwners` section (the default has none) every user may
//! apply every tag; once it has one, a user may apply a tag only if listed for it there
//! (directly, through a group, or through `autogroup:member`). Admins acting through the admin
//! channel create keys *for* a user, and that user must own the tags.
//!
//! Who may read and change the policy: admins, and OAuth clients with scope `all` (or
//! `all:read` to read): keygate has no `policy_file` scope yet.

use std::sync::Arc;

use keygate_domain::{AuditAction, Scope, TagSet};
use keygate_policy::{OwnerRef, Policy, PolicyErrors};
use keygate_store::{NewPolicyRevision, PolicyRevision, StoreError};

use crate::{Actor, Service, ServiceError};

/// Largest policy file accepted, in bytes: far above any real policy (a thousand rules take
/// about 100 KiB), small enough that parsing one is quick.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// How often a save without `If-Match` retries when another save slips in between reading the
/// newest revision and writing its successor.
const SAVE_ATTEMPTS: usize = 5;

/// The policy in force.
#[derive(Clone, Debug)]
pub struct CurrentPolicy {
    /// The stored revision; `None` while the default policy is in force.
    pub revision: Option<PolicyRevision>,
    /// The policy, compiled.
    pub policy: Arc<Policy>,
}

impl CurrentPolicy {
    /// The revision number: 0 for the default policy.
    pub fn revision_id(&self) -> i64 {
        self.revision.as_ref().map_or(0, |r| r.id)
    }

    /// The HTTP entity tag of this revision, quotes included (`"7"`).
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.revision_id())
    }

    /// The file as written.
    pub fn text(&self) -> &str {
        self.policy.text()
    }
}

/// Why a policy was not saved (or, for validation, not accepted).
#[derive(Debug, thiserror::Error)]
pub enum SetPolicyError {
    /// The file is not valid, or its `tests` fail: every problem with its line and column.
    #[error("{0}")]
    Invalid(PolicyErrors),
    /// `If-Match` named a revision that is no longer the newest.
    #[error("precondition failed: the policy was changed since it was read (the current ETag is \"{current}\"); fetch it again and reapply the edit")]
    PreconditionFailed { current: i64 },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for SetPolicyError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// What an `If-Match` header accepts.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// `*`: whatever is current.
    Any,
    /// One of these revisions (`ts-default`, Tailscale's name for "the default policy", is 0).
    Revisions(Vec<i64>),
}

impl Precondition {
    /// Parses `If-Match`: `*`, or a comma-separated list of ETags (`"7"`, or unquoted `7`, or
    /// `ts-default`). An ETag of some other form matches nothing.
    fn parse(header: &str) -> Self {
        let header = header.trim();
        if header == "*" {
            return Self::Any;
        }
        let revisions = header
            .split(',')
            .filter_map(|tag| {
                let tag = tag.trim();
                let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
                if tag == "ts-default" {
                    Some(0)
                } else {
                    tag.parse().ok()
                }
            })
            .collect();
        Self::Revisions(revisions)
    }

    fn allows(&self, current: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Revisions(list) => list.contains(&current),
        }
    }
}

impl Service {
    /// The policy in force, for a caller that may read it.
    pub async fn policy(&self, actor: &Actor) -> Result<CurrentPolicy, ServiceError> {
        require_policy_access(actor, Scope::AllRead)?;
        self.current_policy().await
    }

    /// The policy in force, without checking who asks: for keygate's own use (rendering maps,
    /// checking tags). Surfaces call [`Service::policy`].
    pub async fn current_policy(&self) -> Result<CurrentPolicy, ServiceError> {
        let Some(revision) = self.store.find_latest_policy_revision().await? else {
            return Ok(CurrentPolicy {
                revision: None,
                policy: Arc::new(Policy::default_policy()),
            });
        };
        // Checked when saved; failing now means a newer keygate reads the file more strictly.
        // Refusing is the safe answer (tagged keys fail, rather than rules being guessed).
        let policy = Policy::parse(&revision.text).map_err(|e| {
            ServiceError::Store(StoreError::Corrupt {
                what: "policies",
                detail: format!("revision {} no longer parses: {e}", revision.id),
            })
        })?;
        Ok(CurrentPolicy { revision: Some(revision), policy: Arc::new(policy) })
    }

    /// Saves a new policy file: it must parse, use only names it defines, and pass its own
    /// `tests`. With `if_match` (the ETag the caller read, as in HTTP's `If-Match`), the save
    /// happens only if the policy has not changed since. Admins (or scope `all`). Only
    /// [`crate::Tailnet::set_policy`] calls this, so that every saved policy is put in force.
    pub(crate) async fn set_policy(
        &self,
        actor: &Actor,
        text: &str,
        if_match: Option<&str>,
    ) -> Result<CurrentPolicy, SetPolicyError> {
        require_policy_access(actor, Scope::All)?;
        let policy = check_text(text)?;
        let precondition = if_match.map(Precondition::parse);
        let saved_by = self.describe_actor(actor).await;
        for _ in 0..SAVE_ATTEMPTS {
            let current = self.store.find_latest_policy_revision().await?.map_or(0, |r| r.id);
            if precondition.as_ref().is_some_and(|p| !p.allows(current)) {
                return Err(SetPolicyError::PreconditionFailed { current });
            }
            let new = NewPolicyRevision {
                parent: current,
                text: text.to_owned(),
                saved_by: saved_by.clone(),
                created: self.now(),
            };
            match self.store.insert_policy_revision(&new).await {
                Ok(revision) => {
                    tracing::info!(revision = revision.id, by = %saved_by, rules = policy.rule_count(), "policy saved");
                    let detail = serde_json::json!({ "revision": revision.id, "rules": policy.rule_count() });
                    // No audit action of its own yet: recorded as a settings change.
                    self.record_audit(actor, AuditAction::SettingsChange, "policy", detail).await;
                    return Ok(CurrentPolicy {
                        revision: Some(revision),
                        policy: Arc::new(policy),
                    });
                }
                // Someone saved in between: without a precondition the caller wants its file
                // in force regardless, so try again on top of theirs.
                Err(StoreError::Conflict(_)) if precondition.is_none() => continue,
                Err(StoreError::Conflict(_)) => {
                    let current =
                        self.store.find_latest_policy_revision().await?.map_or(0, |r| r.id);
                    return Err(SetPolicyError::PreconditionFailed { current });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let current = self.store.find_latest_policy_revision().await?.map_or(0, |r| r.id);
        Err(SetPolicyError::PreconditionFailed { current })
    }

    /// Checks a policy file as [`crate::Tailnet::set_policy`] would, without saving it.
    pub async fn validate_policy(
        &self,
        actor: &Actor,
        text: &str,
    ) -> Result<Arc<Policy>, SetPolicyError> {
        require_policy_access(actor, Scope::AllRead)?;
        check_text(text).map(Arc::new)
    }

    /// Runs `tests` (the JSON array of a `tests` section) against the policy in force, as if
    /// they were its own. Positions in the errors refer to the policy with these tests in it;
    /// the entries are named (`tests[0].accept[1]`).
    pub async fn validate_policy_tests(
        &self,
        actor: &Actor,
        tests: &str,
    ) -> Result<(), SetPolicyError> {
        require_policy_access(actor, Scope::AllRead)?;
        let tests: serde_json::Value = serde_json::from_str(tests)
            .map_err(|e| ServiceError::Invalid(format!("tests are not a JSON array: {e}")))?;
        let current = self.current_policy().await?;
        let mut file = current.policy.to_json();
        let Some(object) = file.as_object_mut() else {
            return Err(ServiceError::Invalid("the current policy is not an object".into()).into());
        };
        object.insert("tests".to_owned(), tests);
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| ServiceError::Invalid(format!("tests cannot be combined: {e}")))?;
        check_text(&text).map(drop)
    }

    /// Every saved revision, newest first (the default policy is not one).
    pub async fn policy_history(&self, actor: &Actor) -> Result<Vec<PolicyRevision>, ServiceError> {
        require_policy_access(actor, Scope::AllRead)?;
        Ok(self.store.list_policy_revisions().await?)
    }

    /// Fails, naming each tag, unless `owner` may apply every tag in `tags` under the policy
    /// in force. For key creation (the key's user) and node tagging (the node's user, or its
    /// current tags).
    pub async fn check_tag_ownership(
        &self,
        owner: &OwnerRef<'_>,
        tags: &TagSet,
    ) -> Result<(), ServiceError> {
        if tags.is_empty() {
            return Ok(());
        }
        let current = self.current_policy().await?;
        let refusals: Vec<String> = tags
            .iter()
            .filter_map(|tag| current.policy.check_tag_owner(owner, tag).err())
            .map(|e| e.to_string())
            .collect();
        if refusals.is_empty() {
            return Ok(());
        }
        let denied: Vec<&str> = tags
            .iter()
            .filter(|t| !current.policy.may_own_tag(owner, t))
            .map(|t| t.as_str())
            .collect();
        Err(ServiceError::Invalid(format!(
            "requested tags [{}] are invalid or not permitted: {}",
            denied.join(", "),
            refusals.join("; ")
        )))
    }

    /// Who saved a revision, for the history.
    async fn describe_actor(&self, actor: &Actor) -> String {
        match actor {
            Actor::Admin => "admin".to_owned(),
            Actor::User(id) => match self.store.get_user(*id).await {
                Ok(user) => format!("user {}", user.name),
                Err(_) => format!("user {id}"),
            },
            Actor::OAuth(grant) => format!("oauth client {}", grant.client),
        }
    }
}

/// Parses `text` and runs its tests.
fn check_text(text: &str) -> Result<Policy, SetPolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(ServiceError::Invalid(format!(
            "the policy file is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
            text.len()
        ))
        .into());
    }
    Policy::check(text).map_err(SetPolicyError::Invalid)
}

/// Fails unless `actor` may read (`needed` = `all:read`) or change (`all`) the policy.
fn require_policy_access(actor: &Actor, needed: Scope) -> Result<(), ServiceError> {
    match actor {
        Actor::Admin => Ok(()),
        Actor::User(_) => Err(ServiceError::Forbidden(
            "the policy file is for administrators: use the admin socket or the console".into(),
        )),
        Actor::OAuth(_) => actor.require_scope(needed, "the policy file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_takes_quoted_and_bare_etags_star_and_ts_default() {
        assert_eq!(Precondition::parse("*"), Precondition::Any);
        assert_eq!(Precondition::parse("\"7\""), Precondition::Revisions(vec![7]));
        assert_eq!(Precondition::parse(" 7 "), Precondition::Revisions(vec![7]));
        assert_eq!(Precondition::parse("ts-default"), Precondition::Revisions(vec![0]));
        assert_eq!(Precondition::parse("\"3\", \"5\""), Precondition::Revisions(vec![3, 5]));
        assert!(!Precondition::parse("\"e0b2816b\"").allows(0));
        assert!(!Precondition::parse("W/\"7\"").allows(7), "weak tags never match If-Match");
    }
}
