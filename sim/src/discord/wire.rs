//! Response bodies, shaped after the spec's schemas (`UserResponse`, `UserPIIResponse`, `GuildRoleResponse`,
//! `GuildMemberResponse`, `GuildWithCountsResponse`, `GuildBanResponse`, `PrivateChannelResponse`,
//! `MessageResponse`): every required field present, ids as strings, times as ISO 8601 with `+00:00`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::model::{DmChannel, Guild, Member, Role, User};

/// Discord's timestamp format: `2015-04-26T06:26:56.936000+00:00`.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// `UserResponse` (and the user part of `UserPIIResponse`).
#[derive(Serialize)]
pub(crate) struct UserJson {
    id: String,
    username: String,
    avatar: Option<String>,
    discriminator: &'static str,
    public_flags: u32,
    flags: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    bot: bool,
    banner: Option<String>,
    accent_color: Option<u32>,
    global_name: Option<String>,
    avatar_decoration_data: Option<Value>,
    collectibles: Option<Value>,
    primary_guild: Option<Value>,
}

impl UserJson {
    pub(crate) fn new(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            avatar: None,
            discriminator: "0",
            public_flags: 0,
            flags: 0,
            bot: user.bot,
            banner: None,
            accent_color: None,
            global_name: user.global_name.clone(),
            avatar_decoration_data: None,
            collectibles: None,
            primary_guild: None,
        }
    }
}

/// `UserPIIResponse`: the bot's own user.
#[derive(Serialize)]
pub(crate) struct CurrentUserJson {
    #[serde(flatten)]
    user: UserJson,
    mfa_enabled: bool,
    locale: &'static str,
    premium_type: u8,
    email: Option<String>,
    verified: bool,
}

impl CurrentUserJson {
    pub(crate) fn new(user: &User) -> Self {
        Self {
            user: UserJson::new(user),
            mfa_enabled: false,
            locale: "en-US",
            premium_type: 0,
            email: None,
            verified: true,
        }
    }
}

/// `GuildRoleColorsResponse`.
#[derive(Serialize)]
struct RoleColorsJson {
    primary_color: u32,
    secondary_color: Option<u32>,
    tertiary_color: Option<u32>,
}

/// `GuildRoleResponse`.
#[derive(Serialize)]
pub(crate) struct RoleJson {
    id: String,
    name: String,
    permissions: String,
    position: u16,
    color: u32,
    colors: RoleColorsJson,
    hoist: bool,
    managed: bool,
    mentionable: bool,
    icon: Option<String>,
    unicode_emoji: Option<String>,
    flags: u32,
}

impl RoleJson {
    pub(crate) fn new(role: &Role) -> Self {
        Self {
            id: role.id.to_string(),
            name: role.name.clone(),
            permissions: role.permissions.to_string(),
            position: role.position,
            color: role.color,
            colors: RoleColorsJson {
                primary_color: role.color,
                secondary_color: None,
                tertiary_color: None,
            },
            hoist: false,
            managed: role.managed,
            mentionable: false,
            icon: None,
            unicode_emoji: None,
            flags: 0,
        }
    }

    /// The guild's roles by position (then id), `@everyone` first.
    pub(crate) fn all(guild: &Guild) -> Vec<Self> {
        let mut roles: Vec<&Role> = guild.roles.values().collect();
        roles.sort_by_key(|role| (role.position, role.id));
        roles.into_iter().map(Self::new).collect()
    }
}

/// `GuildMemberResponse`.
#[derive(Serialize)]
pub(crate) struct MemberJson {
    avatar: Option<String>,
    avatar_decoration_data: Option<Value>,
    banner: Option<String>,
    communication_disabled_until: Option<String>,
    flags: u32,
    joined_at: String,
    nick: Option<String>,
    pending: bool,
    premium_since: Option<String>,
    roles: Vec<String>,
    collectibles: Option<Value>,
    user: UserJson,
    mute: bool,
    deaf: bool,
}

impl MemberJson {
    pub(crate) fn new(user: &User, member: &Member) -> Self {
        Self {
            avatar: None,
            avatar_decoration_data: None,
            banner: None,
            communication_disabled_until: None,
            flags: 0,
            joined_at: timestamp(member.joined_at),
            nick: member.nick.clone(),
            pending: false,
            premium_since: None,
            roles: member.roles.iter().map(u64::to_string).collect(),
            collectibles: None,
            user: UserJson::new(user),
            mute: false,
            deaf: false,
        }
    }
}

/// `GuildWithCountsResponse`.
#[derive(Serialize)]
pub(crate) struct GuildJson {
    id: String,
    name: String,
    icon: Option<String>,
    description: Option<String>,
    home_header: Option<String>,
    splash: Option<String>,
    discovery_splash: Option<String>,
    features: Vec<String>,
    banner: Option<String>,
    owner_id: String,
    application_id: Option<String>,
    region: &'static str,
    afk_channel_id: Option<String>,
    afk_timeout: u32,
    system_channel_id: Option<String>,
    system_channel_flags: u32,
    widget_enabled: bool,
    widget_channel_id: Option<String>,
    verification_level: u8,
    roles: Vec<RoleJson>,
    default_message_notifications: u8,
    mfa_level: u8,
    explicit_content_filter: u8,
    max_presences: Option<u32>,
    max_members: u32,
    max_stage_video_channel_users: u32,
    max_video_channel_users: u32,
    vanity_url_code: Option<String>,
    premium_tier: u8,
    premium_subscription_count: u32,
    preferred_locale: &'static str,
    rules_channel_id: Option<String>,
    safety_alerts_channel_id: Option<String>,
    public_updates_channel_id: Option<String>,
    premium_progress_bar_enabled: bool,
    nsfw: bool,
    nsfw_level: u8,
    emojis: Vec<Value>,
    stickers: Vec<Value>,
    incidents_data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approximate_member_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approximate_presence_count: Option<u32>,
}

impl GuildJson {
    pub(crate) fn new(guild: &Guild, with_counts: bool) -> Self {
        let members = u32::try_from(guild.members.len()).unwrap_or(u32::MAX);
        Self {
            id: guild.id.to_string(),
            name: guild.name.clone(),
            icon: guild.icon.clone(),
            description: None,
            home_header: None,
            splash: None,
            discovery_splash: None,
            features: Vec::new(),
            banner: None,
            owner_id: guild.owner.to_string(),
            application_id: None,
            region: "deprecated",
            afk_channel_id: None,
            afk_timeout: 300,
            system_channel_id: None,
            system_channel_flags: 0,
            widget_enabled: false,
            widget_channel_id: None,
            verification_level: 0,
            roles: RoleJson::all(guild),
            default_message_notifications: 0,
            mfa_level: 0,
            explicit_content_filter: 0,
            max_presences: None,
            max_members: 500_000,
            max_stage_video_channel_users: 50,
            max_video_channel_users: 25,
            vanity_url_code: None,
            premium_tier: 0,
            premium_subscription_count: 0,
            preferred_locale: "en-US",
            rules_channel_id: None,
            safety_alerts_channel_id: None,
            public_updates_channel_id: None,
            premium_progress_bar_enabled: false,
            nsfw: false,
            nsfw_level: 0,
            emojis: Vec::new(),
            stickers: Vec::new(),
            incidents_data: None,
            approximate_member_count: with_counts.then_some(members),
            approximate_presence_count: with_counts.then_some(0),
        }
    }
}

/// `GuildBanResponse`.
#[derive(Serialize)]
pub(crate) struct BanJson {
    user: UserJson,
    reason: Option<String>,
}

impl BanJson {
    pub(crate) fn new(user: &User, reason: Option<String>) -> Self {
        Self {
            user: UserJson::new(user),
            reason,
        }
    }
}

/// `PrivateChannelResponse`.
#[derive(Serialize)]
pub(crate) struct DmChannelJson {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    last_message_id: Option<String>,
    flags: u32,
    recipients: Vec<UserJson>,
}

impl DmChannelJson {
    pub(crate) fn new(channel: &DmChannel, recipient: &User) -> Self {
        Self {
            id: channel.id.to_string(),
            kind: 1,
            last_message_id: channel
                .messages
                .last()
                .map(|message| message.id.to_string()),
            flags: 0,
            recipients: vec![UserJson::new(recipient)],
        }
    }
}

/// `MessageResponse` for a message the bot just sent.
#[derive(Serialize)]
pub(crate) struct MessageJson {
    #[serde(rename = "type")]
    kind: u8,
    content: String,
    mentions: Vec<Value>,
    mention_roles: Vec<String>,
    attachments: Vec<Value>,
    embeds: Vec<Value>,
    timestamp: String,
    edited_timestamp: Option<String>,
    flags: u64,
    components: Vec<Value>,
    id: String,
    channel_id: String,
    author: UserJson,
    pinned: bool,
    mention_everyone: bool,
    tts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<Value>,
}

/// What [`MessageJson::new`] needs about the message.
pub(crate) struct SentMessage {
    pub(crate) id: u64,
    pub(crate) channel_id: u64,
    pub(crate) content: String,
    pub(crate) embeds: Vec<Value>,
    pub(crate) flags: u64,
    pub(crate) tts: bool,
    pub(crate) nonce: Option<Value>,
    pub(crate) at: DateTime<Utc>,
}

impl MessageJson {
    pub(crate) fn new(message: SentMessage, author: &User) -> Self {
        Self {
            kind: 0,
            content: message.content,
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            attachments: Vec::new(),
            embeds: message.embeds,
            timestamp: timestamp(message.at),
            edited_timestamp: None,
            flags: message.flags,
            components: Vec::new(),
            id: message.id.to_string(),
            channel_id: message.channel_id.to_string(),
            author: UserJson::new(author),
            pinned: false,
            mention_everyone: false,
            tts: message.tts,
            nonce: message.nonce,
        }
    }
}
