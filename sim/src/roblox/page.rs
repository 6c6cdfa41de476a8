//! Page sizes and page tokens for the list operations.
//!
//! A token is base64url of a small JSON document that records the collection, the parent path, the exact
//! `filter` and `maxPageSize` of the call that issued it, and the sort key of the last item returned (keyset
//! pagination, so members joining or leaving between pages never shift what comes next). Reusing a token with a
//! different filter, page size or parent, or sending anything that does not decode, is `INVALID_ARGUMENT`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::EndOfList;
use super::error::ApiError;

/// Which list a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Collection {
    Memberships,
    Roles,
    UserRestrictions,
    UserRestrictionLogs,
    JoinRequests,
}

/// What a list call asked for, minus the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "c")]
    pub(crate) collection: Collection,
    /// The parent as it appeared in the path (`groups/7`, `groups/-`, `universes/3/places/4`).
    #[serde(rename = "p")]
    pub(crate) parent: String,
    #[serde(rename = "f")]
    pub(crate) filter: Option<String>,
    #[serde(rename = "s")]
    pub(crate) max_page_size: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Token {
    #[serde(rename = "q")]
    query: ListQuery,
    /// Sort key of the last item of the previous page.
    #[serde(rename = "a")]
    after: Vec<u64>,
}

/// Parses `maxPageSize`: absent or 0 means `default`, larger than `max` is clamped, negative or non-numeric is refused.
pub(crate) fn page_size(
    raw: Option<&str>,
    default: usize,
    max: usize,
) -> Result<(Option<i64>, usize), ApiError> {
    let Some(raw) = raw else {
        return Ok((None, default));
    };
    let value: i32 = raw.parse().map_err(|_| {
        ApiError::invalid_argument(format!("maxPageSize must be an integer, got {raw:?}"))
    })?;
    let size = match usize::try_from(value) {
        Err(_) => {
            return Err(ApiError::invalid_argument(format!(
                "maxPageSize must not be negative, got {value}"
            )));
        }
        Ok(0) => default,
        Ok(size) => size.min(max),
    };
    Ok((Some(i64::from(value)), size))
}

/// Decodes a page token and checks it was issued for exactly this query; returns the sort key to resume after.
pub(crate) fn resume_after(token: &str, query: &ListQuery) -> Result<Vec<u64>, ApiError> {
    let invalid = || ApiError::invalid_argument("pageToken is invalid");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.query != *query {
        return Err(ApiError::invalid_argument(
            "pageToken does not match the request: filter and maxPageSize must be the same as in the call that returned it",
        ));
    }
    Ok(token.after)
}

/// The `nextPageToken` of a page.
///
/// `more` says whether items follow this page. With `empty_last_page`, a page that is full but last still
/// carries a token, so the following call returns an empty page (the documented behaviour when the size of a
/// list is a multiple of the page size).
pub(crate) fn next_token(
    query: &ListQuery,
    last_key: Option<Vec<u64>>,
    more: bool,
    page_full: bool,
    end_of_list: EndOfList,
    empty_last_page: bool,
) -> Option<String> {
    match last_key {
        Some(after) if more || (page_full && empty_last_page) => {
            let token = Token {
                query: query.clone(),
                after,
            };
            let json = serde_json::to_vec(&token).unwrap_or_default();
            Some(URL_SAFE_NO_PAD.encode(json))
        }
        _ => match end_of_list {
            EndOfList::EmptyString => Some(String::new()),
            EndOfList::Omitted => None,
        },
    }
}
