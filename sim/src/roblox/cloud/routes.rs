//! Routing of `/cloud/v2` paths to operations, and query-parameter checks.

use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use crate::http_util::{QueryError, parse_query, percent_decode};
use crate::roblox::Endpoint;
use crate::roblox::error::ApiError;
use crate::roblox::restrictions::{RestrictionKind, RestrictionRoute};

pub(crate) fn query_params(
    query: &str,
    allowed: &[&str],
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    parse_query(query, allowed).map_err(|err| match err {
        QueryError::Unknown(name) => ApiError::invalid_argument(format!(
            "Unknown query parameter {name:?} for this operation."
        )),
        QueryError::Repeated(name) => ApiError::invalid_argument(format!(
            "Query parameter {name:?} was given more than once."
        )),
    })
}

/// A matched route with its raw (decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    GetGroup { group: String },
    ListMemberships { group: String },
    UpdateMembership { group: String, membership: String },
    AssignRole { group: String, membership: String },
    UnassignRole { group: String, membership: String },
    ListRoles { group: String },
    GetRole { group: String, role: String },
    ListJoinRequests { group: String },
    AcceptJoinRequest { group: String, join_request: String },
    DeclineJoinRequest { group: String, join_request: String },
    UserRestriction(RestrictionRoute),
    GetUser { user: String },
}

impl Route {
    pub(super) fn endpoint(&self) -> Endpoint {
        match self {
            Route::GetGroup { .. } => Endpoint::GetGroup,
            Route::ListMemberships { .. } => Endpoint::ListMemberships,
            Route::UpdateMembership { .. } => Endpoint::UpdateMembership,
            Route::AssignRole { .. } => Endpoint::AssignRole,
            Route::UnassignRole { .. } => Endpoint::UnassignRole,
            Route::ListRoles { .. } => Endpoint::ListRoles,
            Route::GetRole { .. } => Endpoint::GetRole,
            Route::ListJoinRequests { .. } => Endpoint::ListJoinRequests,
            Route::AcceptJoinRequest { .. } => Endpoint::AcceptJoinRequest,
            Route::DeclineJoinRequest { .. } => Endpoint::DeclineJoinRequest,
            Route::UserRestriction(route) => route.endpoint(),
            Route::GetUser { .. } => Endpoint::GetUser,
        }
    }

    /// Every method the route's path answers, as the `allow` header lists them.
    fn allowed_methods(&self) -> &'static str {
        match self {
            Route::UserRestriction(RestrictionRoute {
                kind: RestrictionKind::Get | RestrictionKind::Update,
                ..
            }) => "GET, PATCH",
            other => other.endpoint().method(),
        }
    }

    /// Matches a path; an unknown path is a 404, a wrong method a 405.
    pub(super) fn parse(method: &Method, path: &str) -> Result<Route, RouteError> {
        let not_found = || RouteError::NotFound(path.to_owned());
        let rest = path.strip_prefix("/cloud/v2/").ok_or_else(not_found)?;
        let segments: Vec<String> = rest
            .split('/')
            .map(percent_decode)
            .collect::<Option<_>>()
            .ok_or_else(not_found)?;
        if segments.iter().any(String::is_empty) {
            return Err(not_found());
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match segments.as_slice() {
            ["groups", group] => Route::GetGroup {
                group: (*group).to_owned(),
            },
            ["groups", group, "memberships"] => Route::ListMemberships {
                group: (*group).to_owned(),
            },
            ["groups", group, "memberships", membership] => match membership.rsplit_once(':') {
                Some((membership, "assignRole")) => Route::AssignRole {
                    group: (*group).to_owned(),
                    membership: membership.to_owned(),
                },
                Some((membership, "unassignRole")) => Route::UnassignRole {
                    group: (*group).to_owned(),
                    membership: membership.to_owned(),
                },
                Some(_) => return Err(not_found()),
                None => Route::UpdateMembership {
                    group: (*group).to_owned(),
                    membership: (*membership).to_owned(),
                },
            },
            ["groups", group, "roles"] => Route::ListRoles {
                group: (*group).to_owned(),
            },
            ["groups", group, "roles", role] => Route::GetRole {
                group: (*group).to_owned(),
                role: (*role).to_owned(),
            },
            ["groups", group, "join-requests"] => Route::ListJoinRequests {
                group: (*group).to_owned(),
            },
            // Only the custom methods exist: there is no operation on a join request itself.
            ["groups", group, "join-requests", join_request] => {
                match join_request.rsplit_once(':') {
                    Some((join_request, "accept")) if !join_request.is_empty() => {
                        Route::AcceptJoinRequest {
                            group: (*group).to_owned(),
                            join_request: join_request.to_owned(),
                        }
                    }
                    Some((join_request, "decline")) if !join_request.is_empty() => {
                        Route::DeclineJoinRequest {
                            group: (*group).to_owned(),
                            join_request: join_request.to_owned(),
                        }
                    }
                    _ => return Err(not_found()),
                }
            }
            ["users", user] => Route::GetUser {
                user: (*user).to_owned(),
            },
            ["universes", universe, rest @ ..] => Route::UserRestriction(
                restriction_route(method, universe, rest).ok_or_else(not_found)?,
            ),
            _ => return Err(not_found()),
        };
        let allow = route.allowed_methods();
        if !allow.split(", ").any(|allowed| allowed == method.as_str()) {
            return Err(RouteError::MethodNotAllowed {
                method: method.to_string(),
                path: path.to_owned(),
                allow,
            });
        }
        Ok(route)
    }
}

/// Matches what follows `universes/{universe_id}/`. The get and update paths are the same, so the method picks.
fn restriction_route(method: &Method, universe: &str, rest: &[&str]) -> Option<RestrictionRoute> {
    let (place, rest) = match rest {
        ["places", place, rest @ ..] => (Some((*place).to_owned()), rest),
        _ => (None, rest),
    };
    let (kind, user) = match rest {
        ["user-restrictions"] => (RestrictionKind::List, None),
        ["user-restrictions:listLogs"] if place.is_none() => (RestrictionKind::ListLogs, None),
        ["user-restrictions", user] if !user.contains(':') => {
            let kind = if method == Method::PATCH {
                RestrictionKind::Update
            } else {
                RestrictionKind::Get
            };
            (kind, Some((*user).to_owned()))
        }
        _ => return None,
    };
    Some(RestrictionRoute {
        kind,
        universe: universe.to_owned(),
        place,
        user,
    })
}

/// Why a request matched no operation.
#[derive(Debug)]
pub(super) enum RouteError {
    /// No operation has this path: 404 `NOT_FOUND`.
    NotFound(String),
    /// The path exists for another method: 405 `NOT_IMPLEMENTED` with `allow`.
    MethodNotAllowed {
        method: String,
        path: String,
        allow: &'static str,
    },
}

impl RouteError {
    pub(super) fn into_response(self) -> Response {
        match self {
            RouteError::NotFound(path) => {
                ApiError::not_found(format!("No Open Cloud operation at {path}.")).into_response()
            }
            RouteError::MethodNotAllowed {
                method,
                path,
                allow,
            } => {
                let mut response = ApiError::with_status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("Method {method} is not allowed on {path}; use {allow}."),
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<Route, u16> {
        Route::parse(&method, path).map_err(|err| err.into_response().status().as_u16())
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(
                Method::POST,
                "/cloud/v2/groups/7/memberships/21557:assignRole"
            ),
            Ok(Route::AssignRole {
                group: "7".into(),
                membership: "21557".into()
            })
        );
        assert_eq!(
            route(
                Method::POST,
                "/cloud/v2/groups/7/memberships/21557%3AunassignRole"
            ),
            Ok(Route::UnassignRole {
                group: "7".into(),
                membership: "21557".into()
            })
        );
        assert_eq!(
            route(Method::PATCH, "/cloud/v2/groups/7/memberships/21557"),
            Ok(Route::UpdateMembership {
                group: "7".into(),
                membership: "21557".into()
            })
        );
        assert_eq!(
            route(Method::GET, "/cloud/v2/groups/7/memberships/21557"),
            Err(405)
        );
        assert_eq!(
            route(Method::POST, "/cloud/v2/groups/7/memberships/21557:kick"),
            Err(404)
        );
        assert_eq!(route(Method::GET, "/cloud/v2/groups/7/"), Err(404));
        assert_eq!(route(Method::GET, "/cloud/v1/groups/7"), Err(404));
        assert_eq!(
            route(Method::DELETE, "/cloud/v2/groups/7/roles/5"),
            Err(405)
        );
    }

    #[test]
    fn join_request_routes() {
        assert_eq!(
            route(Method::GET, "/cloud/v2/groups/7/join-requests"),
            Ok(Route::ListJoinRequests { group: "7".into() })
        );
        assert_eq!(
            route(
                Method::POST,
                "/cloud/v2/groups/7/join-requests/1000000000001:accept"
            ),
            Ok(Route::AcceptJoinRequest {
                group: "7".into(),
                join_request: "1000000000001".into()
            })
        );
        assert_eq!(
            route(
                Method::POST,
                "/cloud/v2/groups/7/join-requests/1000000000001%3Adecline"
            ),
            Ok(Route::DeclineJoinRequest {
                group: "7".into(),
                join_request: "1000000000001".into()
            })
        );
        let wrong = Route::parse(
            &Method::GET,
            "/cloud/v2/groups/7/join-requests/1000000000001:accept",
        )
        .expect_err("405")
        .into_response();
        assert_eq!(wrong.status().as_u16(), 405);
        assert_eq!(
            wrong
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        let wrong = Route::parse(&Method::POST, "/cloud/v2/groups/7/join-requests")
            .expect_err("405")
            .into_response();
        assert_eq!(wrong.status().as_u16(), 405);
        assert_eq!(
            wrong
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("GET")
        );
        assert_eq!(
            route(
                Method::DELETE,
                "/cloud/v2/groups/7/join-requests/1000000000001:decline"
            ),
            Err(405)
        );
        for (method, path) in [
            (Method::POST, "/cloud/v2/groups/7/join-requests/5:approve"),
            (Method::GET, "/cloud/v2/groups/7/join-requests/5"),
            (Method::DELETE, "/cloud/v2/groups/7/join-requests/5"),
            (Method::POST, "/cloud/v2/groups/7/join-requests/:accept"),
            (Method::POST, "/cloud/v2/groups/7/join-requests:accept"),
            (Method::POST, "/cloud/v2/groups/7/join-requests/5:accept/x"),
        ] {
            assert_eq!(route(method, path), Err(404), "{path}");
        }
    }

    #[test]
    fn universe_routes() {
        let restriction = |kind, place: Option<&str>, user: Option<&str>| {
            Ok(Route::UserRestriction(RestrictionRoute {
                kind,
                universe: "3".into(),
                place: place.map(Into::into),
                user: user.map(Into::into),
            }))
        };
        assert_eq!(
            route(Method::GET, "/cloud/v2/universes/3/user-restrictions/9"),
            restriction(RestrictionKind::Get, None, Some("9"))
        );
        assert_eq!(
            route(Method::PATCH, "/cloud/v2/universes/3/user-restrictions/9"),
            restriction(RestrictionKind::Update, None, Some("9"))
        );
        assert_eq!(
            route(
                Method::PATCH,
                "/cloud/v2/universes/3/places/4/user-restrictions/9"
            ),
            restriction(RestrictionKind::Update, Some("4"), Some("9"))
        );
        assert_eq!(
            route(
                Method::GET,
                "/cloud/v2/universes/3/places/4/user-restrictions"
            ),
            restriction(RestrictionKind::List, Some("4"), None)
        );
        assert_eq!(
            route(
                Method::GET,
                "/cloud/v2/universes/3/user-restrictions%3AlistLogs"
            ),
            restriction(RestrictionKind::ListLogs, None, None)
        );
        let wrong = Route::parse(&Method::DELETE, "/cloud/v2/universes/3/user-restrictions/9")
            .expect_err("405")
            .into_response();
        assert_eq!(wrong.status().as_u16(), 405);
        assert_eq!(
            wrong
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("GET, PATCH")
        );
        for (method, path) in [
            (Method::GET, "/cloud/v2/universes/3"),
            (Method::GET, "/cloud/v2/universes/3/user-restrictions/9:ban"),
            (
                Method::GET,
                "/cloud/v2/universes/3/user-restrictions:listAll",
            ),
            (
                Method::GET,
                "/cloud/v2/universes/3/places/4/user-restrictions:listLogs",
            ),
            (Method::GET, "/cloud/v2/universes/3/places/4"),
            (Method::GET, "/cloud/v2/universes/3/user-restrictions/9/x"),
        ] {
            assert_eq!(route(method, path), Err(404), "{path}");
        }
        assert_eq!(
            route(Method::POST, "/cloud/v2/universes/3/user-restrictions"),
            Err(405)
        );
    }
}
