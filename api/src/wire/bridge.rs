//! Wire types of the role bridge (`../shared/reference/role-bridge-api.txt`), as NamelessMC
//! websites send and read them. Ids are numbers or strings; bodies are JSON whatever the
//! `Content-Type`. The handlers read the bodies field by field to answer in the bridge's words.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::IdInput;

/// One requested change.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ChangeRequest {
    /// The Discord user.
    pub user_id: IdInput,
    /// The Discord role.
    pub role_id: IdInput,
    /// `add` or `remove`.
    pub action: Action,
}

/// What to do with a role.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Give it.
    Add,
    /// Take it.
    Remove,
}

/// Body of `POST /applyRoleChanges`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"guild_id": "987654321098765432", "api_key": "rbk_…",
    "role_changes": [{"user_id": "123456789012345678", "role_id": "223456789012345678", "action": "add"}]}))]
pub struct ApplyBody {
    /// The Discord guild.
    pub guild_id: IdInput,
    /// The guild's role-bridge key (the website's API key once linked).
    pub api_key: String,
    /// Up to 250 changes.
    pub role_changes: Vec<ChangeRequest>,
}

/// A role in the v2–v4 form of `/roleChange`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RoleEntry {
    /// The Discord role.
    pub id: IdInput,
    /// `add` or `remove`.
    pub action: Action,
}

/// Body of `POST /roleChange`: v1 names one role to add and/or one to remove; v2–v4 send `roles`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RoleChangeBody {
    /// The Discord guild.
    pub guild_id: IdInput,
    /// The guild's role-bridge key.
    pub api_key: String,
    /// The Discord user.
    pub user_id: IdInput,
    /// v1: a role to give.
    #[serde(default)]
    pub add_role_id: Option<IdInput>,
    /// v1: a role to take.
    #[serde(default)]
    pub remove_role_id: Option<IdInput>,
    /// v2–v4: 1 to 250 roles.
    #[serde(default)]
    pub roles: Option<Vec<RoleEntry>>,
}

/// Body of `POST /sendDirectMessage`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DirectMessageBody {
    /// The Discord guild.
    pub guild_id: IdInput,
    /// The guild's role-bridge key.
    pub api_key: String,
    /// The Discord user.
    pub user_id: IdInput,
    /// 1 to 2000 characters.
    pub message: String,
}

/// One change's outcome in an `/applyRoleChanges` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChangeOutcome {
    /// The Discord user.
    pub user_id: String,
    /// The Discord role.
    pub role_id: String,
    /// `success`, `pending`, `invalid_role`, `invalid_user`, `no_permission` or `error`.
    pub status: String,
}
