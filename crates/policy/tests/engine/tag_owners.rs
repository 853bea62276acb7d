//! Who may apply a tag: `tagOwners`, directly, through groups and autogroup:member, and tags
//! owning tags.

use keygate_domain::{Tag, TagSet, UserName};
use keygate_policy::{OwnerRef, TagOwnerError};

use crate::support::parse;

const POLICY: &str = r#"{
  "groups": {"group:ops": ["bob", "carol@example.com"]},
  "tagOwners": {
    "tag:web": ["alice"],
    "tag:db": ["group:ops"],
    "tag:ci": ["autogroup:member"],
    "tag:job": ["tag:ci"],
    "tag:nobody": [],
  },
}"#;

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn tag(name: &str) -> Tag {
    Tag::parse(name).unwrap()
}

#[test]
fn users_listed_directly_own_the_tag_and_others_do_not() {
    let policy = parse(POLICY);
    assert!(policy.may_own_tag(&OwnerRef::User(&user("alice")), &tag("tag:web")));
    assert!(!policy.may_own_tag(&OwnerRef::User(&user("bob")), &tag("tag:web")));
}

#[test]
fn group_members_own_the_groups_tags() {
    let policy = parse(POLICY);
    assert!(policy.may_own_tag(&OwnerRef::User(&user("bob")), &tag("tag:db")));
    assert!(policy.may_own_tag(&OwnerRef::User(&user("carol@example.com")), &tag("tag:db")));
    assert!(!policy.may_own_tag(&OwnerRef::User(&user("alice")), &tag("tag:db")));
}

#[test]
fn autogroup_member_lets_every_user_own_the_tag() {
    let policy = parse(POLICY);
    for name in ["alice", "bob", "zed"] {
        assert!(policy.may_own_tag(&OwnerRef::User(&user(name)), &tag("tag:ci")), "{name}");
    }
}

#[test]
fn tagged_nodes_own_the_tags_their_tags_own() {
    let policy = parse(POLICY);
    let ci = TagSet::parse_list("tag:ci,tag:other").unwrap();
    assert!(policy.may_own_tag(&OwnerRef::Tags(&ci), &tag("tag:job")));
    assert!(!policy.may_own_tag(&OwnerRef::Tags(&ci), &tag("tag:web")));
    // Owning tag:ci does not make a user an owner of what tag:ci owns.
    assert!(!policy.may_own_tag(&OwnerRef::User(&user("alice")), &tag("tag:job")));
}

#[test]
fn refusals_name_the_tag_and_the_owner() {
    let policy = parse(POLICY);
    let err = policy.check_tag_owner(&OwnerRef::User(&user("bob")), &tag("tag:web")).unwrap_err();
    assert_eq!(err, TagOwnerError::NotOwner { owner: "user bob".into(), tag: tag("tag:web") });
    let text = err.to_string();
    assert!(text.contains("tag:web") && text.contains("user bob"), "{text}");

    let err = policy.check_tag_owner(&OwnerRef::User(&user("alice")), &tag("tag:zzz")).unwrap_err();
    assert_eq!(err, TagOwnerError::Undefined(tag("tag:zzz")));
    assert!(err.to_string().contains("tag:zzz"), "{err}");

    assert!(policy.check_tag_owner(&OwnerRef::User(&user("alice")), &tag("tag:nobody")).is_err());
}

#[test]
fn an_empty_tag_owners_section_means_nobody_owns_any_tag() {
    let policy = parse(r#"{"tagOwners": {}}"#);
    assert!(policy.has_tag_owners());
    assert!(!policy.may_own_tag(&OwnerRef::User(&user("alice")), &tag("tag:web")));
}

#[test]
fn without_a_tag_owners_section_everyone_owns_every_tag() {
    let policy = parse(r#"{"acls": []}"#);
    assert!(!policy.has_tag_owners());
    assert!(policy.may_own_tag(&OwnerRef::User(&user("alice")), &tag("tag:web")));
    let tags = TagSet::parse_list("tag:a").unwrap();
    assert!(policy.may_own_tag(&OwnerRef::Tags(&tags), &tag("tag:b")));
}
