//! The `filter`s: the CEL subsets Open Cloud documents.
//!
//! List Group Memberships accepts `user == 'users/N'`, `role == 'groups/G/roles/R'`, `user in ['users/1',
//! 'users/2', ...]` (1 to 50 users). List Group Join Requests accepts `user == 'users/N'` only. List User
//! Restriction Logs accepts `user == 'users/N'`, `place ==
//! 'places/N'`, or both joined by `&&`. Strings may use single or double quotes; whitespace between tokens is free.
//! Anything else (other fields, other operators, trailing text) is refused with a message naming the problem.

use std::collections::BTreeSet;

/// Most users one `user in [...]` filter may name (the documented limit for the wildcard group).
pub(crate) const MAX_USERS_IN_FILTER: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MembershipFilter {
    User(u64),
    Role { group_id: u64, role_id: u64 },
    Users(BTreeSet<u64>),
}

impl MembershipFilter {
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut cursor = Cursor { rest: input };
        let field = cursor
            .identifier()
            .ok_or_else(|| format!("filter {input:?} must start with a field: `user` or `role`"))?;
        let filter = if cursor.eat("==") {
            let value = cursor.string().ok_or_else(|| {
                format!("filter {input:?}: `==` must be followed by a quoted resource path")
            })?;
            match field {
                "user" => MembershipFilter::User(parse_user(&value)?),
                "role" => {
                    let (group_id, role_id) = parse_role_path(&value).ok_or_else(|| {
                        format!("filter value {value:?} must look like 'groups/{{group_id}}/roles/{{role_id}}'")
                    })?;
                    MembershipFilter::Role { group_id, role_id }
                }
                other => return Err(format!("cannot filter memberships on field {other:?}")),
            }
        } else if cursor.keyword("in") {
            if field != "user" {
                return Err(format!(
                    "`in [...]` is only supported on `user`, not {field:?}"
                ));
            }
            let users = cursor.string_list().ok_or_else(|| {
                format!("filter {input:?}: `in` must be followed by a list of quoted user paths")
            })?;
            if users.is_empty() {
                return Err("a `user in [...]` filter needs at least one user".into());
            }
            if users.len() > MAX_USERS_IN_FILTER {
                return Err(format!(
                    "a `user in [...]` filter accepts at most {MAX_USERS_IN_FILTER} users, got {}",
                    users.len()
                ));
            }
            let users = users
                .iter()
                .map(|user| parse_user(user))
                .collect::<Result<_, _>>()?;
            MembershipFilter::Users(users)
        } else {
            return Err(format!(
                "filter {input:?}: only the `==` and `in [...]` operators are supported"
            ));
        };
        cursor.skip_whitespace();
        if !cursor.rest.is_empty() {
            return Err(format!(
                "filter {input:?}: unexpected {:?}; combining conditions is not supported",
                cursor.rest
            ));
        }
        Ok(filter)
    }

    pub(crate) fn matches_user(&self, user_id: u64) -> bool {
        match self {
            MembershipFilter::User(user) => *user == user_id,
            MembershipFilter::Users(users) => users.contains(&user_id),
            MembershipFilter::Role { .. } => true,
        }
    }
}

/// The `filter` of List Group Join Requests: `user == 'users/N'`, the only form the spec allows ("Only the
/// `user` field and `==` operator are supported").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JoinRequestFilter {
    pub(crate) user: u64,
}

impl JoinRequestFilter {
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut cursor = Cursor { rest: input };
        let field = cursor.identifier().ok_or_else(|| {
            format!("filter {input:?} must look like user == 'users/{{user_id}}'")
        })?;
        if field != "user" {
            return Err(format!(
                "cannot filter join requests on field {field:?}: only `user` is supported"
            ));
        }
        if !cursor.eat("==") {
            return Err(format!(
                "filter {input:?}: only the `==` operator is supported"
            ));
        }
        let value = cursor.string().ok_or_else(|| {
            format!("filter {input:?}: `==` must be followed by a quoted user path")
        })?;
        let user = parse_user(&value)?;
        cursor.skip_whitespace();
        if !cursor.rest.is_empty() {
            return Err(format!(
                "filter {input:?}: unexpected {:?}; combining conditions is not supported",
                cursor.rest
            ));
        }
        Ok(Self { user })
    }
}

/// The `filter` of List User Restriction Logs: each field at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestrictionLogFilter {
    pub(crate) user: Option<u64>,
    pub(crate) place: Option<u64>,
}

impl RestrictionLogFilter {
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut cursor = Cursor { rest: input };
        let mut filter = Self::default();
        loop {
            let field = cursor
                .identifier()
                .ok_or_else(|| format!("filter {input:?} must name a field: `user` or `place`"))?;
            if !cursor.eat("==") {
                return Err(format!(
                    "filter {input:?}: only the `==` operator is supported"
                ));
            }
            let value = cursor.string().ok_or_else(|| {
                format!("filter {input:?}: `==` must be followed by a quoted resource path")
            })?;
            match field {
                "user" if filter.user.is_none() => filter.user = Some(parse_user(&value)?),
                "place" if filter.place.is_none() => {
                    let place = value
                        .strip_prefix("places/")
                        .and_then(parse_id)
                        .ok_or_else(|| {
                            format!("filter value {value:?} must look like 'places/{{place_id}}'")
                        })?;
                    filter.place = Some(place);
                }
                "user" | "place" => {
                    return Err(format!("filter {input:?} names {field} more than once"));
                }
                other => return Err(format!("cannot filter restriction logs on field {other:?}")),
            }
            if cursor.eat("&&") {
                continue;
            }
            cursor.skip_whitespace();
            if cursor.rest.is_empty() {
                return Ok(filter);
            }
            return Err(format!(
                "filter {input:?}: unexpected {:?}; only `&&` may join conditions",
                cursor.rest
            ));
        }
    }

    /// Whether a change to `user`'s restriction at `place` (`None`: the universe level) matches.
    pub(crate) fn matches(&self, user: u64, place: Option<u64>) -> bool {
        self.user.is_none_or(|wanted| wanted == user)
            && self.place.is_none_or(|wanted| place == Some(wanted))
    }
}

fn parse_user(value: &str) -> Result<u64, String> {
    value
        .strip_prefix("users/")
        .and_then(parse_id)
        .ok_or_else(|| format!("filter value {value:?} must look like 'users/{{user_id}}'"))
}

/// Parses `groups/{g}/roles/{r}` into `(g, r)`.
pub(crate) fn parse_role_path(value: &str) -> Option<(u64, u64)> {
    let rest = value.strip_prefix("groups/")?;
    let (group, role) = rest.split_once("/roles/")?;
    Some((parse_id(group)?, parse_id(role)?))
}

/// A positive decimal id without sign or leading zeros.
pub(crate) fn parse_id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn identifier(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (ident, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(ident)
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_whitespace();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Like [`eat`](Self::eat) but the token must not run into a following identifier character.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_whitespace();
        match self.rest.strip_prefix(word) {
            Some(rest) if !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// A single- or double-quoted string without escapes.
    fn string(&mut self) -> Option<String> {
        self.skip_whitespace();
        let quote = self
            .rest
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')?;
        let body = &self.rest[1..];
        let end = body.find(quote)?;
        let value = &body[..end];
        if value.contains('\\') {
            return None;
        }
        self.rest = &body[end + 1..];
        Some(value.to_owned())
    }

    /// `[ 'a', 'b' ]`, a trailing comma allowed.
    fn string_list(&mut self) -> Option<Vec<String>> {
        if !self.eat("[") {
            return None;
        }
        let mut items = Vec::new();
        loop {
            if self.eat("]") {
                return Some(items);
            }
            items.push(self.string()?);
            if self.eat(",") {
                continue;
            }
            return self.eat("]").then_some(items);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(
            MembershipFilter::parse("user == 'users/21557'"),
            Ok(MembershipFilter::User(21557))
        );
        assert_eq!(
            MembershipFilter::parse("  user==\"users/5\" "),
            Ok(MembershipFilter::User(5))
        );
        assert_eq!(
            MembershipFilter::parse("role == 'groups/7/roles/99'"),
            Ok(MembershipFilter::Role {
                group_id: 7,
                role_id: 99
            })
        );
        assert_eq!(
            MembershipFilter::parse("user in ['users/1', 'users/156',]"),
            Ok(MembershipFilter::Users(BTreeSet::from([1, 156])))
        );
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "user",
            "user = 'users/1'",
            "user != 'users/1'",
            "user == users/1",
            "user == 'users/abc'",
            "user == 'users/01'",
            "user == 'user/1'",
            "name == 'x'",
            "role in ['groups/1/roles/2']",
            "role == 'groups/7/roles/x'",
            "user == 'users/1' && role == 'groups/7/roles/9'",
            "user in []",
            "user in ['users/1'",
            "user inside ['users/1']",
        ] {
            assert!(
                MembershipFilter::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let many: Vec<String> = (1..=51).map(|n| format!("'users/{n}'")).collect();
        let filter = format!("user in [{}]", many.join(", "));
        assert!(MembershipFilter::parse(&filter).is_err());
        let fifty: Vec<String> = (1..=50).map(|n| format!("'users/{n}'")).collect();
        assert!(MembershipFilter::parse(&format!("user in [{}]", fifty.join(","))).is_ok());
    }

    #[test]
    fn join_request_filters() {
        assert_eq!(
            JoinRequestFilter::parse("user == 'users/156'"),
            Ok(JoinRequestFilter { user: 156 })
        );
        assert_eq!(
            JoinRequestFilter::parse(" user==\"users/7\"  "),
            Ok(JoinRequestFilter { user: 7 })
        );
        for bad in [
            "",
            "user",
            "user != 'users/1'",
            "user in ['users/1']",
            "user == 'users/0'",
            "user == 'groups/1'",
            "user == users/1",
            "role == 'groups/7/roles/9'",
            "createTime > '2024-01-01T00:00:00Z'",
            "user == 'users/1' && user == 'users/2'",
        ] {
            assert!(
                JoinRequestFilter::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn restriction_log_filters() {
        assert_eq!(
            RestrictionLogFilter::parse("user == 'users/156'"),
            Ok(RestrictionLogFilter {
                user: Some(156),
                place: None
            })
        );
        let both = RestrictionLogFilter::parse("place==\"places/4\"&&user == 'users/9' ")
            .expect("valid filter");
        assert_eq!((both.user, both.place), (Some(9), Some(4)));
        assert!(both.matches(9, Some(4)));
        assert!(!both.matches(9, None));
        assert!(!both.matches(8, Some(4)));
        assert!(RestrictionLogFilter::default().matches(1, None));
        for bad in [
            "",
            "user",
            "user != 'users/1'",
            "user == 'places/1'",
            "place == 'users/1'",
            "place == 'places/0'",
            "user == 'users/1' && user == 'users/2'",
            "user == 'users/1' || place == 'places/2'",
            "user == 'users/1' &&",
            "active == 'true'",
        ] {
            assert!(
                RestrictionLogFilter::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
