//! The operations: input validation, then the checks the module doc lists (guild, access, member, role, permission,
//! hierarchy), then the change and its answer.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use warp::http::StatusCode;
use warp::reply::Response;

use super::api::Matched;
use super::error::{ApiError, Code};
use super::form::{
    FormErrors, audit_reason, form_error, json_body, object, optional_bool, optional_int,
    optional_string, path_id, query, query_bool, query_int, shown, snowflake, unsupported,
};
use super::model::{DmChannel, Guild, Message, Standing, User, World, perm};
use super::wire::{
    BanJson, CurrentUserJson, DmChannelJson, GuildJson, MemberJson, MessageJson, RoleJson,
    SentMessage, timestamp,
};
use super::{DiscordSim, Incoming, Route};
use crate::http_util::{empty_response, json_response};

/// The longest message content the docs allow.
const CONTENT_MAX: usize = 2000;
/// Embeds per message.
const EMBEDS_MAX: usize = 10;
/// Roles in a modify-member body (the spec's `maxItems`).
const ROLES_MAX: usize = 350;

type OpResult = Result<Response, ApiError>;

/// Runs the matched operation for `bot`.
pub(crate) fn run(sim: &DiscordSim, incoming: &Incoming, matched: &Matched, bot: u64) -> OpResult {
    let ids = Ids::parse(matched)?;
    let call = Call { bot, ids, incoming };
    match matched.route {
        Route::GetCurrentUser => {
            call.no_query()?;
            let world = sim.inner.world.lock();
            let user = known_user(&world, bot)?;
            ok(&CurrentUserJson::new(user))
        }
        Route::GetGuild => get_guild(sim, &call),
        Route::ListRoles => {
            call.no_query()?;
            let world = sim.inner.world.lock();
            let guild = accessible_guild(&world, call.ids.guild, bot)?;
            ok(&RoleJson::all(guild))
        }
        Route::GetMember => {
            call.no_query()?;
            let world = sim.inner.world.lock();
            let guild = accessible_guild(&world, call.ids.guild, bot)?;
            ok(&member_json(&world, guild, call.ids.user)?)
        }
        Route::ListMembers => list_members(sim, &call),
        Route::ModifyMember => modify_member(sim, &call),
        Route::AddMemberRole | Route::RemoveMemberRole => {
            member_role(sim, &call, matched.route == Route::AddMemberRole)
        }
        Route::CreateBan => create_ban(sim, &call),
        Route::RemoveBan => remove_ban(sim, &call),
        Route::GetBan => {
            call.no_query()?;
            let world = sim.inner.world.lock();
            let guild = accessible_guild(&world, call.ids.guild, bot)?;
            require(standing(guild, bot), perm::BAN_MEMBERS)?;
            let reason = guild
                .bans
                .get(&call.ids.user)
                .ok_or_else(|| ApiError::new(Code::UnknownBan))?;
            let user = known_user(&world, call.ids.user)?;
            ok(&BanJson::new(user, reason.clone()))
        }
        Route::CreateDm => create_dm(sim, &call),
        Route::CreateMessage => create_message(sim, &call),
    }
}

/// The path ids, validated (0 where the route has none).
struct Ids {
    guild: u64,
    user: u64,
    role: u64,
    channel: u64,
}

impl Ids {
    fn parse(matched: &Matched) -> Result<Self, ApiError> {
        let id = |segment: &Option<String>, name: &str| {
            segment
                .as_deref()
                .map_or(Ok(0), |segment| path_id(segment, name))
        };
        Ok(Self {
            guild: id(&matched.guild, "guild_id")?,
            user: id(&matched.user, "user_id")?,
            role: id(&matched.role, "role_id")?,
            channel: id(&matched.channel, "channel_id")?,
        })
    }
}

struct Call<'a> {
    bot: u64,
    ids: Ids,
    incoming: &'a Incoming,
}

impl Call<'_> {
    fn no_query(&self) -> Result<(), ApiError> {
        query(&self.incoming.query, &[]).map(|_| ())
    }

    fn body(&self) -> Result<Value, ApiError> {
        json_body(&self.incoming.headers, &self.incoming.body)
    }

    fn reason(&self) -> Result<Option<String>, ApiError> {
        audit_reason(&self.incoming.headers)
    }
}

fn ok(body: &impl Serialize) -> OpResult {
    Ok(json_response(StatusCode::OK, body))
}

fn no_content() -> OpResult {
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn known_user(world: &World, user: u64) -> Result<&User, ApiError> {
    world
        .users
        .get(&user)
        .ok_or_else(|| ApiError::new(Code::UnknownUser))
}

/// The guild, when it exists (else 404 10004) and the bot is a member (else 403 50001).
fn accessible_guild(world: &World, guild: u64, bot: u64) -> Result<&Guild, ApiError> {
    let guild = world
        .guilds
        .get(&guild)
        .ok_or_else(|| ApiError::new(Code::UnknownGuild))?;
    if !guild.members.contains_key(&bot) {
        return Err(ApiError::new(Code::MissingAccess));
    }
    Ok(guild)
}

fn standing(guild: &Guild, user: u64) -> Standing {
    guild.standing(user).unwrap_or(Standing {
        permissions: 0,
        rank: 0,
    })
}

fn require(standing: Standing, bit: u64) -> Result<(), ApiError> {
    if standing.has(bit) {
        Ok(())
    } else {
        Err(missing_permissions())
    }
}

fn missing_permissions() -> ApiError {
    ApiError::new(Code::MissingPermissions)
}

fn member_json(world: &World, guild: &Guild, user: u64) -> Result<MemberJson, ApiError> {
    let member = guild
        .members
        .get(&user)
        .ok_or_else(|| ApiError::new(Code::UnknownMember))?;
    let user = known_user(world, user)?;
    Ok(MemberJson::new(user, member))
}

fn get_guild(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    let params = query(&call.incoming.query, &["with_counts"])?;
    let mut errors = FormErrors::default();
    let with_counts = query_bool(&params, "with_counts", &mut errors).unwrap_or(false);
    errors.finish()?;
    let world = sim.inner.world.lock();
    let guild = accessible_guild(&world, call.ids.guild, call.bot)?;
    ok(&GuildJson::new(guild, with_counts))
}

fn list_members(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    let params = query(&call.incoming.query, &["limit", "after"])?;
    let mut errors = FormErrors::default();
    let limit = query_int(&params, "limit", 1, 1000, &mut errors).unwrap_or(1);
    let after = query_int(&params, "after", 0, u64::MAX, &mut errors).unwrap_or(0);
    errors.finish()?;
    let world = sim.inner.world.lock();
    let guild = accessible_guild(&world, call.ids.guild, call.bot)?;
    if !world
        .users
        .get(&call.bot)
        .is_some_and(|bot| bot.members_intent)
    {
        return Err(ApiError::new(Code::MissingAccess));
    }
    let limit = usize::try_from(limit).unwrap_or(1000);
    let members: Vec<MemberJson> = guild
        .members
        .range(after.saturating_add(1)..)
        .take(limit)
        .filter_map(|(&user, member)| {
            let user = world.users.get(&user)?;
            Some(MemberJson::new(user, member))
        })
        .collect();
    ok(&members)
}

/// The `PATCH` member body: `None` = field absent.
struct MemberPatch {
    /// `Some(None)` resets the nickname.
    nick: Option<Option<String>>,
    roles: Option<BTreeSet<u64>>,
}

impl MemberPatch {
    fn parse(body: &Value) -> Result<Self, ApiError> {
        let map = object(body)?;
        let mut errors = FormErrors::default();
        unsupported(
            map,
            &[
                "mute",
                "deaf",
                "channel_id",
                "communication_disabled_until",
                "flags",
            ],
            &mut errors,
        );
        let nick = optional_string(map, "nick", 32, &mut errors)
            .map(|nick| nick.filter(|nick| !nick.is_empty()));
        let roles = match map.get("roles") {
            None => None,
            Some(Value::Null) => Some(BTreeSet::new()),
            Some(Value::Array(items)) => {
                if items.len() > ROLES_MAX {
                    errors.add(
                        &["roles"],
                        "BASE_TYPE_MAX_LENGTH",
                        format!("Must be {ROLES_MAX} or fewer in length."),
                    );
                }
                let mut roles = BTreeSet::new();
                for (index, item) in items.iter().enumerate() {
                    match snowflake(item) {
                        Some(role) if roles.insert(role) => {}
                        Some(_) => errors.add_at(
                            &["roles"],
                            index,
                            "SET_TYPE_ALREADY_CONTAINS_VALUE",
                            "The set already contains this value.",
                        ),
                        None => errors.add_at(
                            &["roles"],
                            index,
                            "NUMBER_TYPE_COERCE",
                            format!("Value \"{}\" is not snowflake.", shown(item)),
                        ),
                    }
                }
                Some(roles)
            }
            Some(other) => {
                errors.add(
                    &["roles"],
                    "BASE_TYPE_ARRAY",
                    format!("Could not interpret \"{}\" as array.", shown(other)),
                );
                None
            }
        };
        errors.finish()?;
        Ok(Self { nick, roles })
    }
}

fn modify_member(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    call.no_query()?;
    let patch = MemberPatch::parse(&call.body()?)?;
    call.reason()?;
    let (bot, user) = (call.bot, call.ids.user);
    let mut world = sim.inner.world.lock();
    {
        let guild = accessible_guild(&world, call.ids.guild, bot)?;
        let actor = standing(guild, bot);
        let member = guild
            .members
            .get(&user)
            .ok_or_else(|| ApiError::new(Code::UnknownMember))?;
        if let Some(roles) = &patch.roles {
            if roles.iter().any(|&role| guild.assignable(role).is_none()) {
                return Err(ApiError::new(Code::UnknownRole));
            }
            require(actor, perm::MANAGE_ROLES)?;
            for role in roles.symmetric_difference(&member.roles) {
                check_role_grantable(guild, actor, *role)?;
            }
        }
        if patch.nick.is_some() {
            check_nick_change(guild, actor, bot, user)?;
        }
    }
    let guild = world
        .guilds
        .get_mut(&call.ids.guild)
        .ok_or_else(|| ApiError::new(Code::UnknownGuild))?;
    let member = guild
        .members
        .get_mut(&user)
        .ok_or_else(|| ApiError::new(Code::UnknownMember))?;
    if let Some(roles) = patch.roles {
        member.roles = roles;
    }
    if let Some(nick) = patch.nick {
        member.nick = nick;
    }
    let world: &World = &world;
    let guild = accessible_guild(world, call.ids.guild, bot)?;
    ok(&member_json(world, guild, user)?)
}

/// A role the bot may add or remove: unmanaged and strictly below its highest role.
fn check_role_grantable(guild: &Guild, actor: Standing, role: u64) -> Result<(), ApiError> {
    let role = guild
        .assignable(role)
        .ok_or_else(|| ApiError::new(Code::UnknownRole))?;
    if role.managed || u32::from(role.position) >= actor.rank {
        return Err(missing_permissions());
    }
    Ok(())
}

/// Whether the bot may change `user`'s nickname: never the owner's; its own with `CHANGE_NICKNAME` or
/// `MANAGE_NICKNAMES`; anyone else's with `MANAGE_NICKNAMES` when their highest role is below the bot's.
fn check_nick_change(guild: &Guild, actor: Standing, bot: u64, user: u64) -> Result<(), ApiError> {
    if user == bot {
        if actor.has(perm::CHANGE_NICKNAME) || actor.has(perm::MANAGE_NICKNAMES) {
            return Ok(());
        }
        return Err(missing_permissions());
    }
    if user == guild.owner {
        return Err(missing_permissions());
    }
    require(actor, perm::MANAGE_NICKNAMES)?;
    if standing(guild, user).rank >= actor.rank {
        return Err(missing_permissions());
    }
    Ok(())
}

fn member_role(sim: &DiscordSim, call: &Call<'_>, add: bool) -> OpResult {
    call.no_query()?;
    call.body()?;
    call.reason()?;
    let (bot, user, role) = (call.bot, call.ids.user, call.ids.role);
    let mut world = sim.inner.world.lock();
    {
        let guild = accessible_guild(&world, call.ids.guild, bot)?;
        if !guild.members.contains_key(&user) {
            return Err(ApiError::new(Code::UnknownMember));
        }
        if guild.assignable(role).is_none() {
            return Err(ApiError::new(Code::UnknownRole));
        }
        let actor = standing(guild, bot);
        require(actor, perm::MANAGE_ROLES)?;
        check_role_grantable(guild, actor, role)?;
    }
    if let Some(member) = world
        .guilds
        .get_mut(&call.ids.guild)
        .and_then(|guild| guild.members.get_mut(&user))
    {
        if add {
            member.roles.insert(role);
        } else {
            member.roles.remove(&role);
        }
    }
    no_content()
}

fn create_ban(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    call.no_query()?;
    let body = call.body()?;
    let map = object(&body)?;
    let mut errors = FormErrors::default();
    optional_int(map, "delete_message_seconds", 0, 604_800, &mut errors);
    optional_int(map, "delete_message_days", 0, 7, &mut errors);
    errors.finish()?;
    let reason = call.reason()?;
    let (bot, user) = (call.bot, call.ids.user);
    let mut world = sim.inner.world.lock();
    {
        let guild = accessible_guild(&world, call.ids.guild, bot)?;
        let actor = standing(guild, bot);
        require(actor, perm::BAN_MEMBERS)?;
        known_user(&world, user)?;
        if guild.members.contains_key(&user)
            && (user == guild.owner || standing(guild, user).rank >= actor.rank)
        {
            return Err(missing_permissions());
        }
    }
    if let Some(guild) = world.guilds.get_mut(&call.ids.guild)
        && !guild.bans.contains_key(&user)
    {
        guild.bans.insert(user, reason);
        guild.members.remove(&user);
    }
    no_content()
}

fn remove_ban(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    call.no_query()?;
    object(&call.body()?)?;
    call.reason()?;
    let mut world = sim.inner.world.lock();
    {
        let guild = accessible_guild(&world, call.ids.guild, call.bot)?;
        require(standing(guild, call.bot), perm::BAN_MEMBERS)?;
        if !guild.bans.contains_key(&call.ids.user) {
            return Err(ApiError::new(Code::UnknownBan));
        }
    }
    if let Some(guild) = world.guilds.get_mut(&call.ids.guild) {
        guild.bans.remove(&call.ids.user);
    }
    no_content()
}

fn create_dm(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    call.no_query()?;
    let body = call.body()?;
    let map = object(&body)?;
    let mut errors = FormErrors::default();
    unsupported(map, &["access_tokens", "nicks"], &mut errors);
    let recipient = match map.get("recipient_id") {
        None | Some(Value::Null) => {
            errors.add(
                &["recipient_id"],
                "BASE_TYPE_REQUIRED",
                "This field is required",
            );
            None
        }
        Some(value) => {
            let id = snowflake(value);
            if id.is_none() {
                errors.add(
                    &["recipient_id"],
                    "NUMBER_TYPE_COERCE",
                    format!("Value \"{}\" is not snowflake.", shown(value)),
                );
            }
            id
        }
    };
    errors.finish()?;
    call.reason()?;
    let recipient = recipient.ok_or_else(|| {
        form_error(
            &["recipient_id"],
            "BASE_TYPE_REQUIRED",
            "This field is required",
        )
    })?;
    let mut world = sim.inner.world.lock();
    known_user(&world, recipient)?;
    let key = (call.bot, recipient);
    let channel_id = match world.dm_index.get(&key) {
        Some(&id) => id,
        None => {
            let id = world.snowflake(Utc::now());
            world.dm_index.insert(key, id);
            world.channels.insert(
                id,
                DmChannel {
                    id,
                    bot: call.bot,
                    recipient,
                    messages: Vec::new(),
                },
            );
            id
        }
    };
    let world: &World = &world;
    let channel = world
        .channels
        .get(&channel_id)
        .ok_or_else(|| ApiError::new(Code::UnknownChannel))?;
    ok(&DmChannelJson::new(channel, known_user(world, recipient)?))
}

/// A validated message body.
struct MessageInput {
    content: String,
    embeds: Vec<Value>,
    flags: u64,
    tts: bool,
    nonce: Option<Value>,
}

impl MessageInput {
    fn parse(body: &Value) -> Result<Self, ApiError> {
        let map = object(body)?;
        let mut errors = FormErrors::default();
        unsupported(
            map,
            &[
                "components",
                "sticker_ids",
                "attachments",
                "poll",
                "message_reference",
                "shared_client_theme",
            ],
            &mut errors,
        );
        let content = optional_string(map, "content", CONTENT_MAX, &mut errors)
            .flatten()
            .unwrap_or_default();
        let embeds = match map.get("embeds") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                if items.len() > EMBEDS_MAX {
                    errors.add(
                        &["embeds"],
                        "BASE_TYPE_MAX_LENGTH",
                        format!("Must be {EMBEDS_MAX} or fewer in length."),
                    );
                }
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| embed(item, index, &mut errors))
                    .collect()
            }
            Some(other) => {
                errors.add(
                    &["embeds"],
                    "BASE_TYPE_ARRAY",
                    format!("Could not interpret \"{}\" as array.", shown(other)),
                );
                Vec::new()
            }
        };
        match map.get("allowed_mentions") {
            None | Some(Value::Null | Value::Object(_)) => {}
            Some(other) => errors.add(
                &["allowed_mentions"],
                "DICT_TYPE_CONVERT",
                format!("Could not interpret \"{}\" as a dictionary.", shown(other)),
            ),
        }
        let nonce = match map.get("nonce") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.chars().count() <= 25 => {
                Some(Value::String(text.clone()))
            }
            Some(Value::Number(number)) if number.is_i64() || number.is_u64() => {
                Some(Value::Number(number.clone()))
            }
            Some(other) => {
                errors.add(
                    &["nonce"],
                    "BASE_TYPE_BAD_LENGTH",
                    format!(
                        "Value \"{}\" must be an integer or a string of at most 25 characters.",
                        shown(other)
                    ),
                );
                None
            }
        };
        optional_bool(map, "enforce_nonce", &mut errors);
        let tts = optional_bool(map, "tts", &mut errors).unwrap_or(false);
        let flags = optional_int(map, "flags", 0, i64::from(i32::MAX), &mut errors)
            .and_then(|flags| u64::try_from(flags).ok())
            .unwrap_or(0);
        errors.finish()?;
        Ok(Self {
            content,
            embeds,
            flags,
            tts,
            nonce,
        })
    }
}

/// One embed, checked against the docs' limits and rendered as a `MessageEmbedResponse` (`type: "rich"`).
fn embed(value: &Value, index: usize, errors: &mut FormErrors) -> Option<Value> {
    let at = index.to_string();
    let Some(map) = value.as_object() else {
        errors.add(
            &["embeds", &at],
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        );
        return None;
    };
    let mut field_errors = FormErrors::default();
    unsupported(
        map,
        &["image", "thumbnail", "video", "provider"],
        &mut field_errors,
    );
    let mut out = Map::new();
    out.insert("type".into(), Value::String("rich".into()));
    if let Some(Some(kind)) = optional_string(map, "type", 32, &mut field_errors)
        && kind != "rich"
    {
        field_errors.add(
            &["type"],
            "BASE_TYPE_CHOICES",
            "Value must be one of ('rich',).",
        );
    }
    let mut total = 0;
    for (field, max) in [("title", 256), ("description", 4096)] {
        if let Some(Some(text)) = optional_string(map, field, max, &mut field_errors) {
            total += text.chars().count();
            out.insert(field.into(), Value::String(text));
        }
    }
    if let Some(Some(url)) = optional_string(map, "url", 2048, &mut field_errors) {
        check_url(&url, &["url"], &mut field_errors);
        out.insert("url".into(), Value::String(url));
    }
    if let Some(color) = optional_int(map, "color", 0, 0xFF_FF_FF, &mut field_errors) {
        out.insert("color".into(), Value::from(color));
    }
    if let Some(Some(text)) = optional_string(map, "timestamp", 64, &mut field_errors) {
        match DateTime::parse_from_rfc3339(&text) {
            Ok(at) => {
                out.insert(
                    "timestamp".into(),
                    Value::String(timestamp(at.with_timezone(&Utc))),
                );
            }
            Err(_) => field_errors.add(
                &["timestamp"],
                "DATE_TIME_TYPE_PARSE",
                format!("Could not parse {text}. Should be ISO8601."),
            ),
        }
    }
    if let Some(fields) = embed_fields(map, &mut field_errors, &mut total) {
        out.insert("fields".into(), Value::Array(fields));
    }
    for (part, name_field, name_max) in [("footer", "text", 2048), ("author", "name", 256)] {
        if let Some(rendered) = embed_part(
            map,
            part,
            name_field,
            name_max,
            &mut field_errors,
            &mut total,
        ) {
            out.insert(part.into(), rendered);
        }
    }
    if total > 6000 {
        field_errors.add(
            &[],
            "BASE_TYPE_MAX_LENGTH",
            "Embed size exceeds maximum size of 6000",
        );
    }
    if field_errors.is_empty() {
        return Some(Value::Object(out));
    }
    errors.nest(&["embeds", &at], field_errors);
    None
}

fn check_url(url: &str, path: &[&str], errors: &mut FormErrors) {
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.");
    }
}

/// `fields`: at most 25 of `{name ≤ 256, value ≤ 1024, inline?}`.
fn embed_fields(
    map: &Map<String, Value>,
    errors: &mut FormErrors,
    total: &mut usize,
) -> Option<Vec<Value>> {
    let items = match map.get("fields")? {
        Value::Null => return None,
        Value::Array(items) => items,
        other => {
            errors.add(
                &["fields"],
                "BASE_TYPE_ARRAY",
                format!("Could not interpret \"{}\" as array.", shown(other)),
            );
            return None;
        }
    };
    if items.len() > 25 {
        errors.add(
            &["fields"],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        );
    }
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = index.to_string();
        let Some(field) = item.as_object() else {
            errors.add(
                &["fields", &at],
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            );
            continue;
        };
        let mut rendered = Map::new();
        for (key, max) in [("name", 256), ("value", 1024)] {
            let mut inner = FormErrors::default();
            match optional_string(field, key, max, &mut inner).flatten() {
                Some(text) => {
                    *total += text.chars().count();
                    rendered.insert(key.into(), Value::String(text));
                }
                None if inner.is_empty() => {
                    inner.add(&[key], "BASE_TYPE_REQUIRED", "This field is required");
                }
                None => {}
            }
            errors.nest(&["fields", &at], inner);
        }
        let mut inner = FormErrors::default();
        let inline = optional_bool(field, "inline", &mut inner).unwrap_or(false);
        errors.nest(&["fields", &at], inner);
        rendered.insert("inline".into(), Value::Bool(inline));
        out.push(Value::Object(rendered));
    }
    Some(out)
}

/// `footer` (`text`, `icon_url`) or `author` (`name`, `url`, `icon_url`); the name field is required in answers.
fn embed_part(
    map: &Map<String, Value>,
    part: &str,
    name_field: &str,
    name_max: usize,
    errors: &mut FormErrors,
    total: &mut usize,
) -> Option<Value> {
    let object = match map.get(part)? {
        Value::Null => return None,
        Value::Object(object) => object,
        other => {
            errors.add(
                &[part],
                "DICT_TYPE_CONVERT",
                format!("Could not interpret \"{}\" as a dictionary.", shown(other)),
            );
            return None;
        }
    };
    let mut inner = FormErrors::default();
    let mut rendered = Map::new();
    match optional_string(object, name_field, name_max, &mut inner).flatten() {
        Some(text) => {
            *total += text.chars().count();
            rendered.insert(name_field.into(), Value::String(text));
        }
        None if inner.is_empty() => {
            inner.add(
                &[name_field],
                "BASE_TYPE_REQUIRED",
                "This field is required",
            );
        }
        None => {}
    }
    let urls: &[&str] = if part == "author" {
        &["url", "icon_url"]
    } else {
        &["icon_url"]
    };
    for key in urls {
        if let Some(Some(url)) = optional_string(object, key, 2048, &mut inner) {
            check_url(&url, &[key], &mut inner);
            rendered.insert((*key).into(), Value::String(url));
        }
    }
    let valid = inner.is_empty();
    errors.nest(&[part], inner);
    valid.then_some(Value::Object(rendered))
}

fn create_message(sim: &DiscordSim, call: &Call<'_>) -> OpResult {
    call.no_query()?;
    {
        let world = sim.inner.world.lock();
        if world
            .channels
            .get(&call.ids.channel)
            .is_none_or(|channel| channel.bot != call.bot)
        {
            return Err(ApiError::new(Code::UnknownChannel));
        }
    }
    let input = MessageInput::parse(&call.body()?)?;
    call.reason()?;
    if input.content.is_empty() && input.embeds.is_empty() {
        return Err(ApiError::new(Code::EmptyMessage));
    }
    let mut world = sim.inner.world.lock();
    let recipient = world
        .channels
        .get(&call.ids.channel)
        .filter(|channel| channel.bot == call.bot)
        .map(|channel| channel.recipient)
        .ok_or_else(|| ApiError::new(Code::UnknownChannel))?;
    let open = world
        .users
        .get(&recipient)
        .is_some_and(|user| user.dms_open);
    if !open || !world.share_a_guild(call.bot, recipient) {
        return Err(ApiError::new(Code::CannotMessageUser));
    }
    let now = Utc::now();
    let id = world.snowflake(now);
    if let Some(channel) = world.channels.get_mut(&call.ids.channel) {
        channel.messages.push(Message {
            id,
            content: input.content.clone(),
        });
    }
    let author = known_user(&world, call.bot)?;
    let sent = SentMessage {
        id,
        channel_id: call.ids.channel,
        content: input.content,
        embeds: input.embeds,
        flags: input.flags,
        tts: input.tts,
        nonce: input.nonce,
        at: now,
    };
    ok(&MessageJson::new(sent, author))
}
