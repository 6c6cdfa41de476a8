//! The wire types of the API: request bodies and responses, separate from the stored models.
//! Their JSON Schemas (schemars) make the components of the OpenAPI document
//! ([`crate::openapi`]), and the route table ([`crate::routes`]) names which route takes and
//! returns which.
//!
//! Wire quirks the families' callers rely on, kept here once:
//! - a JSON body is read whatever its `Content-Type` says (missing, `text/plain`, a form type):
//!   Roblox game servers, NamelessMC sites and `curl -d` all send JSON under other names;
//! - `[]` is taken for an empty object (Roblox's `HttpService:JSONEncode({})` produces `[]`);
//! - ids are accepted as JSON numbers or strings of digits where the references show both.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::http::Request;

pub mod admin;
pub mod bridge;
pub mod community;
pub mod guild;
pub mod staff;

/// Why a body was refused: a message naming the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

/// Reads a request body as a JSON object, whatever its `Content-Type` says. `[]` counts as `{}`.
pub fn object(req: &Request) -> Result<Map<String, Value>, BodyError> {
    if req.body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BodyError(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Array(a)) if a.is_empty() => Ok(Map::new()),
        Ok(_) => Err(BodyError("the request body must be a JSON object".into())),
        Err(e) => Err(BodyError(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// The query parameters as a JSON object of strings, to be read with [`typed`] (ids and amounts
/// accept strings of digits).
pub fn query_object(req: &Request) -> Map<String, Value> {
    req.query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Reads a typed body from an object already read with [`object`]; errors name the field.
pub fn typed<T: DeserializeOwned>(body: &Map<String, Value>) -> Result<T, BodyError> {
    let value = Value::Object(body.clone());
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some(field) = inner
            .strip_prefix("missing field `")
            .and_then(|s| s.strip_suffix('`'))
        {
            return BodyError(format!("`{field}` is required"));
        }
        if path.is_empty() || path == "." {
            BodyError(inner)
        } else {
            BodyError(format!("`{path}` {inner}"))
        }
    })
}

/// A positive Roblox or Discord id: a JSON number or a string of digits, 1 to 2^63−1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IdInput(pub u64);

pub const ID_RULE: &str = "must be a positive integer up to 9223372036854775807";

impl<'de> Deserialize<'de> for IdInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a positive integer (number or string of digits)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdInput, E> {
                if v > 0 && v <= i64::MAX as u64 {
                    Ok(IdInput(v))
                } else {
                    Err(E::custom(ID_RULE))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdInput, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(ID_RULE))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<IdInput, E> {
                if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom(ID_RULE));
                }
                s.parse::<u64>()
                    .map_err(|_| E::custom(ID_RULE))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<IdInput, E> {
                Err(E::custom(ID_RULE))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<IdInput, E> {
                Err(E::custom(ID_RULE))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IdInput, E> {
                Err(E::custom(ID_RULE))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<IdInput, A::Error> {
                Err(de::Error::custom(ID_RULE))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<IdInput, A::Error> {
                Err(de::Error::custom(ID_RULE))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for IdInput {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A positive id, as a JSON number or a string of digits.",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 9_223_372_036_854_775_807_u64},
                {"type": "string", "pattern": "^[0-9]{1,19}$"}
            ]
        })
    }
}

/// A rank to assign: 1 to 254 (0 is guest and 255 the owner; Roblox assigns neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AssignableRank(pub u8);

pub const RANK_RULE: &str = "must be an integer from 1 to 254: 0 (guest) and 255 (owner) cannot be assigned, Roblox does not allow it";

impl<'de> Deserialize<'de> for AssignableRank {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .filter(|n| (1..=254).contains(n))
                .map(|n| AssignableRank(n as u8))
                .ok_or_else(|| de::Error::custom(RANK_RULE)),
            _ => Err(de::Error::custom(RANK_RULE)),
        }
    }
}

impl JsonSchema for AssignableRank {
    fn schema_name() -> Cow<'static, str> {
        "AssignableRank".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A group rank from 1 to 254 (0 is guest and 255 the owner: Roblox assigns neither).",
            "type": "integer", "minimum": 1, "maximum": 254
        })
    }
}

/// Body of `POST /v1/groups/{groupId}/rank`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"robloxUserId": 101, "rankId": 20}))]
pub struct SetRankBody {
    /// The member.
    pub roblox_user_id: IdInput,
    /// The rank to give.
    pub rank_id: AssignableRank,
}

/// Body of `POST /v1/groups/{groupId}/promote` and `…/demote`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"robloxUserId": "101"}))]
pub struct MemberBody {
    /// The member.
    pub roblox_user_id: IdInput,
}

/// A group's request usage this period, carried by every ranking write answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// `YYYY-MM` (UTC).
    pub period: String,
    /// Requests counted this period.
    pub count: u64,
    /// The plan's allowance; `null` when unlimited.
    pub allowance: Option<u64>,
    /// Whether the count is past the allowance (requests still go through).
    pub overage: bool,
    /// When the period resets.
    pub resets_at: DateTime<Utc>,
}

impl From<&roster_core::usage::UsageSnapshot> for Usage {
    fn from(u: &roster_core::usage::UsageSnapshot) -> Self {
        Self {
            period: u.period.clone(),
            count: u.count,
            allowance: u.allowance,
            overage: u.overage,
            resets_at: u.resets_at,
        }
    }
}

/// A group role.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Roblox role id.
    pub id: String,
    /// Role name.
    pub name: String,
    /// Rank (0–255).
    pub rank: u8,
}

/// The outcome of a ranking write (200).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"success": true, "jobId": "job_01JD3Q4W0000000000000000AB", "groupId": 1234567,
    "robloxUserId": 101, "previousRank": 1, "newRank": 10, "rank": 10,
    "role": {"id": "1234567010", "name": "Private", "rank": 10}, "changed": true,
    "usage": {"period": "2026-12", "count": 1, "allowance": 1000, "overage": false, "resetsAt": "2027-01-01T00:00:00Z"}}))]
pub struct RankOutcome {
    /// Always `true`.
    pub success: bool,
    /// The job that did it.
    pub job_id: String,
    /// The group.
    pub group_id: u64,
    /// The member.
    pub roblox_user_id: u64,
    /// Rank before.
    pub previous_rank: u8,
    /// Rank after.
    pub new_rank: u8,
    /// Rank after (the reference's older name).
    pub rank: u8,
    /// The role the member now holds.
    pub role: Role,
    /// Whether anything changed upstream (false: the member already had it).
    pub changed: bool,
    /// This period's usage.
    pub usage: Option<Usage>,
}

/// A write accepted but not finished within `server.sync_wait` (202), or sent with
/// `Prefer: respond-async`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"success": true, "status": "queued", "jobId": "job_01JD3Q4W0000000000000000AB",
    "statusUrl": "/v1/jobs/job_01JD3Q4W0000000000000000AB",
    "usage": {"period": "2026-12", "count": 2, "allowance": 1000, "overage": false, "resetsAt": "2027-01-01T00:00:00Z"}}))]
pub struct Accepted {
    /// Always `true`.
    pub success: bool,
    /// Always `queued`.
    pub status: &'static str,
    /// The job.
    pub job_id: String,
    /// Where to poll: `/v1/jobs/{jobId}`.
    pub status_url: String,
    /// This period's usage.
    pub usage: Option<Usage>,
}

/// `GET /v1/groups/{groupId}/rank/{robloxUserId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankView {
    /// The group.
    pub group_id: u64,
    /// The member.
    pub roblox_user_id: u64,
    /// Whether the user is in the group.
    pub in_group: bool,
    /// Their rank (0 when not in the group).
    pub rank: u8,
    /// Their role's name (the guest role's when not in the group).
    pub role_name: Option<String>,
    /// Their role's id.
    pub role_id: Option<String>,
}

/// `GET /v1/groups/{groupId}/usage`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    /// The group.
    pub group_id: u64,
    /// Its plan.
    pub plan: String,
    /// `YYYY-MM` (UTC).
    pub period: String,
    /// Requests counted this period.
    pub count: u64,
    /// The plan's allowance; `null` when unlimited.
    pub allowance: Option<u64>,
    /// Whether the count is past the allowance.
    pub overage: bool,
    /// When the period resets.
    pub resets_at: DateTime<Utc>,
    /// The same, as carried by write answers.
    pub usage: Usage,
}

/// A job's failure in the family's vocabulary.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobFailure {
    /// Machine code.
    pub error: String,
    /// What happened.
    pub message: String,
}

/// Where a job's time went.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// From acceptance to the start of the last attempt.
    pub queue_wait_ms: f64,
    /// The last attempt's run time.
    pub run_ms: f64,
    /// Of which spent waiting for upstream answers.
    pub upstream_ms: f64,
}

/// A job's state.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker has started it.
    Running,
    /// Done.
    Succeeded,
    /// Failed permanently.
    Failed,
    /// Out of attempts; waiting for an operator.
    Dead,
}

/// `GET /v1/jobs/{jobId}` (also in the admin API).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// The job.
    pub job_id: String,
    /// Its kind, e.g. `ranking.promote`.
    pub kind: String,
    /// Where it stands.
    pub status: JobState,
    /// Attempts so far (failures + 1 once started).
    pub attempts: u32,
    /// Most attempts.
    pub max_attempts: u32,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// The result, by kind.
    pub result: Option<Value>,
    /// Why it failed.
    pub error: Option<JobFailure>,
    /// Where its time went.
    pub timings: Option<Timings>,
    /// The group it belongs to (ranking jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    /// The guild it belongs to (guild jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<String>,
}

/// The ranking family's error: `{"error": CODE, "message": …}`; write errors also carry the
/// usage and, when a job exists, its id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"error": "NO_MATCHING_RULE", "message": "no enabled promote rule matches rank 30"}))]
pub struct RankingError {
    /// Machine code.
    pub error: String,
    /// What went wrong and what to do.
    pub message: String,
    /// This period's usage (write errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The job, when one was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// The guild family's error envelope.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(example = serde_json::json!({"status": "error", "code": 403, "message": "this API key belongs to another guild", "error": "FORBIDDEN"}))]
pub struct GuildErrorBody {
    /// Always `error`.
    pub status: String,
    /// The HTTP status.
    pub code: u16,
    /// What went wrong.
    pub message: String,
    /// Machine code.
    pub error: String,
    /// With 429: seconds until a retry may succeed (as in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// The admin API's error.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(example = serde_json::json!({"error": "NOT_FOUND", "message": "group 1 not found"}))]
pub struct AdminErrorBody {
    /// Machine code.
    pub error: String,
    /// What went wrong.
    pub message: String,
}

/// The role bridge's JSON reply (`/applyRoleChanges`, `/sendDirectMessage`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(example = serde_json::json!({"status": "success", "role_changes": [{"user_id": "123456789012345678", "role_id": "223456789012345678", "status": "success"}]}))]
pub struct BridgeReply {
    /// `success`, `pending`, `partsuccess`, `bad_request`, `unauthorized`, `invalid_guild`,
    /// `not_linked`, `rate_limited`, `invalid_user`, `cannot_dm` or `error`.
    pub status: String,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<String>,
    /// One entry per requested change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_changes: Option<Vec<bridge::ChangeOutcome>>,
}

/// The community family's error (`/api/…`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(example = serde_json::json!({"success": false, "error": "NOT_FOUND", "message": "no route GET /api/server/info"}))]
pub struct CommunityError {
    /// Always `false`.
    pub success: bool,
    /// Machine code.
    pub error: String,
    /// What went wrong.
    pub message: String,
}

/// An admin answer: a JSON object whose fields the admin reference documents per route.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct AdminOk {}

/// Where the queue backend stands (`/readyz`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QueueHealth {
    /// `sqlite` or `redis`.
    pub backend: String,
    /// Whether it answered a ping within 2 s.
    pub reachable: bool,
}

/// `GET /readyz`: 200 when requests can be served end to end, 503 otherwise.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// All of the below, and not draining.
    pub ready: bool,
    /// The store answers.
    pub store: bool,
    /// The queue backend.
    pub queue: QueueHealth,
    /// Workers are heartbeating.
    pub workers: bool,
    /// Shutting down.
    pub draining: bool,
    /// Outbox entries not yet handed to the queue.
    pub outbox_pending: u64,
}
