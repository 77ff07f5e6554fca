//! Directory groups to Slipway roles: the server's configuration lists mappings in order, and
//! the first whose group the person is in gives their role (so the order is the precedence, and
//! a reader sees it). A person in no mapped group gets the default role when one is set, and is
//! refused otherwise: membership of the directory alone grants nothing.

use serde::Deserialize;

use crate::access::Role;

/// One line of the mapping: members of `group` get `role`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    pub group: String,
    pub role: Role,
}

/// How group names compare: OpenID group claims are texts compared exactly; LDAP group DNs
/// compare without regard to ASCII case (`cn=Admins,ou=Groups` is `cn=admins,ou=groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupNames {
    Exact,
    IgnoreAsciiCase,
}

/// The role of a person in `groups`: the first mapping that matches, else `default`.
pub fn role_for(
    groups: &[String],
    mappings: &[RoleMapping],
    default: Option<Role>,
    names: GroupNames,
) -> Option<Role> {
    let same = |a: &str, b: &str| match names {
        GroupNames::Exact => a == b,
        GroupNames::IgnoreAsciiCase => normalise_dn(a).eq_ignore_ascii_case(&normalise_dn(b)),
    };
    mappings
        .iter()
        .find(|m| groups.iter().any(|g| same(g, &m.group)))
        .map(|m| m.role)
        .or(default)
}

/// Spaces after the commas of a DN do not change it (`cn=a, ou=b` is `cn=a,ou=b`).
fn normalise_dn(dn: &str) -> String {
    dn.split(',').map(str::trim).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mappings() -> Vec<RoleMapping> {
        vec![
            RoleMapping {
                group: "slipway-admins".into(),
                role: Role::Admin,
            },
            RoleMapping {
                group: "release-ops".into(),
                role: Role::Ops,
            },
            RoleMapping {
                group: "developers".into(),
                role: Role::Developer,
            },
        ]
    }

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_first_mapping_that_matches_wins_whatever_the_order_of_the_claim() {
        let role = role_for(
            &groups(&["developers", "release-ops"]),
            &mappings(),
            None,
            GroupNames::Exact,
        );
        assert_eq!(role, Some(Role::Ops));
    }

    #[test]
    fn a_person_in_no_mapped_group_gets_the_default_or_nothing() {
        assert_eq!(
            role_for(&groups(&["staff"]), &mappings(), None, GroupNames::Exact),
            None
        );
        assert_eq!(
            role_for(&[], &mappings(), Some(Role::Viewer), GroupNames::Exact),
            Some(Role::Viewer)
        );
    }

    #[test]
    fn group_claims_compare_exactly_and_dns_without_case_or_spaces() {
        assert_eq!(
            role_for(
                &groups(&["Slipway-Admins"]),
                &mappings(),
                None,
                GroupNames::Exact
            ),
            None
        );
        let dn = vec![RoleMapping {
            group: "cn=admins,ou=groups,dc=example,dc=org".into(),
            role: Role::Admin,
        }];
        let role = role_for(
            &groups(&["CN=Admins, OU=Groups, DC=example, DC=org"]),
            &dn,
            None,
            GroupNames::IgnoreAsciiCase,
        );
        assert_eq!(role, Some(Role::Admin));
        assert_eq!(
            role_for(
                &groups(&["cn=admins-not"]),
                &dn,
                None,
                GroupNames::IgnoreAsciiCase
            ),
            None
        );
    }
}
