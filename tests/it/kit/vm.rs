//! The Luau side of the kit harness: a real Luau VM (mlua, `luau` feature) with the natives the
//! Roblox stand-ins in `roblox.luau` are built on.
//!
//! Everything Roblox-shaped (instances, `require`, HttpService's rules, Players, `task` and the
//! scheduler, the test runner) is Luau in `tests/it/kit/*.luau`, so it reads like the engine it
//! copies. Rust gives it what Luau cannot do: real HTTP to the server under test, the clock, JSON
//! as Roblox writes it, loading a file as a chunk with its own environment, and the Roblox
//! simulator's state. The natives are passed to the prelude as an argument, never as globals, so
//! the kit cannot reach them.
//!
//! The VM is not `Send`: a run happens on one blocking thread, and HTTP requests are spawned on the
//! test's Tokio runtime with their answers sent back over a channel.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mlua::{Function, Lua, Table, Value};
use roster_sim::roblox::{Endpoint, FaultRule, RobloxSim};

use crate::harness::MEMBERS;
use serde_json::{Map, Number, Value as Json};

/// The repository's `roblox-kit/`.
pub fn kit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("roblox-kit")
}

/// This folder (the stand-ins and the runner).
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/kit")
}

/// What a run needs from the test app (all `Send`, so it can move to the blocking thread).
#[derive(Clone)]
pub struct KitEnv {
    /// Roster's base URL.
    pub api_base: String,
    /// The demo group's API key.
    pub api_key: String,
    /// The admin token.
    pub admin_token: String,
    /// The demo group.
    pub group: u64,
    /// The Roblox simulator behind Roster.
    pub sim: RobloxSim,
    /// The test's runtime, for HTTP.
    pub handle: tokio::runtime::Handle,
}

/// One Luau test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// `describe ▸ it`.
    pub name: String,
    /// Passed.
    pub ok: bool,
    /// Why it failed.
    pub message: String,
    /// Virtual seconds it took.
    pub virtual_secs: f64,
}

/// A request the kit sent through `HttpService:RequestAsync` (after the stand-in's checks).
#[derive(Debug, Clone)]
pub struct KitRequest {
    /// Method.
    pub method: String,
    /// Full URL.
    pub url: String,
}

/// What a spec file's run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every test, in order.
    pub results: Vec<TestResult>,
    /// Every request the kit sent.
    pub requests: Vec<KitRequest>,
    /// Named figures a spec reported with `harness.figure`.
    pub figures: Vec<(String, f64)>,
}

type HttpAnswer = (
    u64,
    Result<(u16, String, Vec<(String, String)>, String), String>,
);

/// The clock: real time since the start plus the virtual seconds skipped while nothing was in flight.
struct Clock {
    start: Instant,
    skipped: Cell<f64>,
}

impl Clock {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() + self.skipped.get()
    }
}

/// Runs one spec file (a path relative to `roblox-kit/`) in a fresh VM.
/// (mlua's errors are not `Send`, so a failure comes back as its text.)
pub fn run_spec(env: KitEnv, spec: &str) -> Result<Outcome, String> {
    let lua = Lua::new();
    let outcome = Rc::new(RefCell::new(Outcome::default()));
    let run = || -> mlua::Result<()> {
        let natives = natives(&lua, &env, outcome.clone())?;
        let prelude = load_file(
            &lua,
            &harness_dir().join("roblox.luau"),
            "@kit/roblox.luau",
            None,
        )?;
        let run: Function = prelude.call(natives)?;
        run.call::<()>(spec.to_owned())
    };
    run().map_err(|e| e.to_string())?;
    drop(lua);
    let out = Rc::try_unwrap(outcome)
        .map_err(|_| "the VM still holds the outcome".to_owned())?
        .into_inner();
    Ok(out)
}

fn load_file(lua: &Lua, path: &Path, name: &str, env: Option<Table>) -> mlua::Result<Function> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| mlua::Error::external(format!("{}: {e}", path.display())))?;
    let chunk = lua.load(source).set_name(name);
    match env {
        Some(env) => chunk.set_environment(env).into_function(),
        None => chunk.into_function(),
    }
}

fn natives(lua: &Lua, env: &KitEnv, outcome: Rc<RefCell<Outcome>>) -> mlua::Result<Table> {
    let n = lua.create_table()?;
    let clock = Rc::new(Clock {
        start: Instant::now(),
        skipped: Cell::new(0.0),
    });

    let config = lua.create_table()?;
    config.set("apiBase", env.api_base.clone())?;
    config.set("apiKey", env.api_key.clone())?;
    config.set("adminToken", env.admin_token.clone())?;
    config.set("groupId", env.group as f64)?;
    n.set("config", config)?;

    let c = clock.clone();
    n.set("now", lua.create_function(move |_, ()| Ok(c.now()))?)?;
    let c = clock.clone();
    n.set(
        "advance",
        lua.create_function(move |_, secs: f64| {
            if secs > 0.0 {
                c.skipped.set(c.skipped.get() + secs);
            }
            Ok(())
        })?,
    )?;
    n.set(
        "sleep",
        lua.create_function(|_, secs: f64| {
            std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 5.0)));
            Ok(())
        })?,
    )?;

    // HTTP: start a request on the runtime, wait for answers.
    let (tx, rx) = mpsc::channel::<HttpAnswer>();
    let next_id = Rc::new(Cell::new(0u64));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(mlua::Error::external)?;
    let handle = env.handle.clone();
    let out = outcome.clone();
    n.set(
        "httpStart",
        lua.create_function(move |_, req: Table| {
            let url: String = req.get("url")?;
            let method: String = req.get("method")?;
            let timeout: f64 = req.get("timeout")?;
            let body: Option<String> = req.get("body")?;
            let record: bool = req.get::<Option<bool>>("record")?.unwrap_or(false);
            let mut headers = Vec::new();
            for pair in req.get::<Table>("headers")?.pairs::<String, String>() {
                headers.push(pair?);
            }
            if record {
                out.borrow_mut().requests.push(KitRequest {
                    method: method.clone(),
                    url: url.clone(),
                });
            }
            let id = next_id.get() + 1;
            next_id.set(id);
            let method =
                reqwest::Method::from_bytes(method.as_bytes()).map_err(mlua::Error::external)?;
            let mut rb = client
                .request(method, &url)
                .timeout(Duration::from_secs_f64(timeout.max(0.001)));
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            if let Some(b) = body {
                rb = rb.body(b);
            }
            let tx = tx.clone();
            handle.spawn(async move {
                let answer = async {
                    let resp = rb.send().await?;
                    let status = resp.status();
                    let headers = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect::<Vec<_>>();
                    let text = resp.text().await?;
                    Ok::<_, reqwest::Error>((
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("").to_owned(),
                        headers,
                        text,
                    ))
                }
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        "Timedout".to_owned()
                    } else if e.is_connect() {
                        "ConnectFail".to_owned()
                    } else {
                        format!("Unknown ({e})")
                    }
                });
                let _ = tx.send((id, answer));
            });
            Ok(id)
        })?,
    )?;
    n.set(
        "httpWait",
        lua.create_function(move |lua, max_secs: f64| {
            let Ok((id, answer)) =
                rx.recv_timeout(Duration::from_secs_f64(max_secs.clamp(0.0, 60.0)))
            else {
                return Ok((Value::Nil, Value::Nil));
            };
            let t = lua.create_table()?;
            match answer {
                Ok((status, reason, headers, body)) => {
                    t.set("status", status)?;
                    t.set("reason", reason)?;
                    let h = lua.create_table()?;
                    for (k, v) in headers {
                        h.set(k, v)?;
                    }
                    t.set("headers", h)?;
                    t.set("body", lua.create_string(body)?)?;
                }
                Err(e) => t.set("error", e)?,
            }
            Ok((Value::Number(id as f64), Value::Table(t)))
        })?,
    )?;

    n.set(
        "jsonEncode",
        lua.create_function(|_, v: Value| {
            let json = to_json(&v, 0).map_err(mlua::Error::runtime)?;
            Ok(json.to_string())
        })?,
    )?;
    n.set(
        "jsonDecode",
        lua.create_function(|lua, s: mlua::LuaString| {
            let json: Json = serde_json::from_slice(&s.as_bytes())
                .map_err(|_| mlua::Error::runtime("Can't parse JSON"))?;
            from_json(lua, &json)
        })?,
    )?;

    // Modules: the project tree, and loading a file with an environment.
    n.set(
        "project",
        lua.create_function(|lua, ()| {
            let node = project_tree(&kit_dir()).map_err(mlua::Error::external)?;
            node_to_lua(lua, &node)
        })?,
    )?;
    n.set(
        "load",
        lua.create_function(|lua, (rel, env): (String, Table)| {
            load_file(
                lua,
                &kit_dir().join(&rel),
                &format!("@roblox-kit/{rel}"),
                Some(env),
            )
        })?,
    )?;
    n.set(
        "loadHarness",
        lua.create_function(|lua, name: String| {
            load_file(
                lua,
                &harness_dir().join(&name),
                &format!("@kit/{name}"),
                None,
            )
        })?,
    )?;

    // Reporting.
    let out = outcome.clone();
    n.set(
        "report",
        lua.create_function(
            move |_, (name, ok, message, secs): (String, bool, String, f64)| {
                out.borrow_mut().results.push(TestResult {
                    name,
                    ok,
                    message,
                    virtual_secs: secs,
                });
                Ok(())
            },
        )?,
    )?;
    let out = outcome;
    n.set(
        "figure",
        lua.create_function(move |_, (name, value): (String, f64)| {
            out.borrow_mut().figures.push((name, value));
            Ok(())
        })?,
    )?;

    // The Roblox simulator.
    let group = env.group;
    let sim = env.sim.clone();
    n.set(
        "simRank",
        lua.create_function(move |_, user: u64| {
            Ok(sim.member(group, user).map(|m| m.rank).unwrap_or(0))
        })?,
    )?;
    let sim = env.sim.clone();
    n.set(
        "simWrites",
        lua.create_function(move |_, user: Option<u64>| {
            Ok(sim
                .log()
                .iter()
                .filter(|e| {
                    matches!(
                        e.endpoint,
                        Some(Endpoint::AssignRole | Endpoint::UpdateMembership)
                    ) && (200..300).contains(&e.status)
                        && user.is_none_or(|u| membership_of(&e.path) == Some(u))
                })
                .count())
        })?,
    )?;
    let sim = env.sim.clone();
    n.set(
        "simSetRank",
        lua.create_function(move |_, (user, rank): (u64, u64)| {
            let roles = if rank == 0 {
                vec![]
            } else {
                vec![group * 1000 + rank]
            };
            sim.set_member_roles(group, user, &roles)
                .map_err(|e| mlua::Error::runtime(format!("simSetRank: {e:?}")))
        })?,
    )?;
    let sim = env.sim.clone();
    n.set(
        "simReset",
        lua.create_function(move |_, ()| {
            sim.clear_log();
            for (user, rank) in MEMBERS {
                sim.set_member_roles(group, user, &[group * 1000 + u64::from(rank)])
                    .map_err(|e| mlua::Error::runtime(format!("simReset: {e:?}")))?;
            }
            Ok(())
        })?,
    )?;
    let sim = env.sim.clone();
    n.set(
        "simFault",
        lua.create_function(move |_, rule: Value| {
            let json = to_json(&rule, 0).map_err(mlua::Error::runtime)?;
            let rule: FaultRule = serde_json::from_value(json)
                .map_err(|e| mlua::Error::runtime(format!("simFault: {e}")))?;
            Ok(sim.add_fault(rule))
        })?,
    )?;
    let sim = env.sim.clone();
    n.set(
        "simClearFaults",
        lua.create_function(move |_, ()| {
            sim.clear_faults();
            Ok(())
        })?,
    )?;
    Ok(n)
}

/// The user a membership path names: `…/memberships/{id}[:verb]` where the id is the user id or
/// the simulator's opaque id (base64url of `membership:{group}:{user}`).
fn membership_of(path: &str) -> Option<u64> {
    let id = path.split("/memberships/").nth(1)?;
    let id = id.split([':', '?', '/']).next()?;
    if let Ok(user) = id.parse() {
        return Some(user);
    }
    let decoded = base64url_decode(id)?;
    let text = String::from_utf8(decoded).ok()?;
    text.rsplit(':').next()?.parse().ok()
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `roblox-kit/tests/*.spec.luau`, relative to `roblox-kit/`, sorted.
pub fn spec_files() -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(kit_dir().join("tests"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".spec.luau") {
            out.push(format!("tests/{name}"));
        }
    }
    out.sort();
    Ok(out)
}

/// A node of the Rojo project tree, as the harness builds instances from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Instance name.
    pub name: String,
    /// `ModuleScript` or `Folder`.
    pub class: &'static str,
    /// The module's source, relative to `roblox-kit/`.
    pub file: Option<String>,
    /// Children by name.
    pub children: BTreeMap<String, Node>,
}

/// Reads `default.project.json` under `dir` the way Rojo does for the parts the kit uses: `$path`
/// to a folder (a `Folder`, or a `ModuleScript` when it holds `init.luau`) or to a `.luau` file
/// (a `ModuleScript`), nested children by name. Anything else is an error, so a project file the
/// harness cannot load as Rojo would fails the test instead of loading something else.
pub fn project_tree(dir: &Path) -> anyhow::Result<Node> {
    let text = std::fs::read_to_string(dir.join("default.project.json"))?;
    let project: Json = serde_json::from_str(&text)?;
    let name = project["name"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("default.project.json has no name"))?;
    tree_node(dir, name, &project["tree"])
}

fn tree_node(dir: &Path, name: &str, spec: &Json) -> anyhow::Result<Node> {
    let obj = spec
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("{name}: a tree node must be an object"))?;
    let mut node = match obj.get("$path") {
        Some(p) => {
            let rel = p
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("{name}: $path must be a string"))?;
            path_node(dir, name, rel)?
        }
        None => Node {
            name: name.to_owned(),
            class: "Folder",
            file: None,
            children: BTreeMap::new(),
        },
    };
    for (key, child) in obj {
        if key.starts_with('$') {
            anyhow::ensure!(
                key == "$path" || key == "$className" && child == "Folder",
                "{name}: {key} is not supported by the harness"
            );
            continue;
        }
        node.children
            .insert(key.clone(), tree_node(dir, key, child)?);
    }
    Ok(node)
}

fn path_node(root: &Path, name: &str, rel: &str) -> anyhow::Result<Node> {
    let full = root.join(rel);
    if full.is_file() {
        anyhow::ensure!(
            rel.ends_with(".luau"),
            "{rel}: only .luau files are modules"
        );
        return Ok(Node {
            name: name.to_owned(),
            class: "ModuleScript",
            file: Some(rel.to_owned()),
            children: BTreeMap::new(),
        });
    }
    anyhow::ensure!(full.is_dir(), "$path {rel} does not exist");
    let init = full.join("init.luau");
    let mut node = Node {
        name: name.to_owned(),
        class: if init.is_file() {
            "ModuleScript"
        } else {
            "Folder"
        },
        file: init.is_file().then(|| format!("{rel}/init.luau")),
        children: BTreeMap::new(),
    };
    let mut entries = std::fs::read_dir(&full)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let file = e.file_name().to_string_lossy().into_owned();
        let child_rel = format!("{rel}/{file}");
        if e.path().is_dir() {
            node.children
                .insert(file.clone(), path_node(root, &file, &child_rel)?);
        } else if file == "init.luau" {
            continue;
        } else if let Some(stem) = file.strip_suffix(".luau") {
            anyhow::ensure!(
                !stem.contains('.'),
                "{child_rel}: scripts (.server/.client) are not part of the kit"
            );
            node.children
                .insert(stem.to_owned(), path_node(root, stem, &child_rel)?);
        }
    }
    Ok(node)
}

fn node_to_lua(lua: &Lua, node: &Node) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("name", node.name.clone())?;
    t.set("className", node.class)?;
    t.set("file", node.file.clone())?;
    let children = lua.create_table()?;
    for child in node.children.values() {
        children.push(node_to_lua(lua, child)?)?;
    }
    t.set("children", children)?;
    Ok(t)
}

const MAX_SAFE: f64 = 9_007_199_254_740_992.0;

/// `HttpService:JSONEncode`: an empty table is `[]`, a table with a sequence part is an array
/// (the sequence wins over other keys), integral numbers have no fraction, and anything that is not
/// nil, a boolean, a number, a string or a table cannot be converted.
fn to_json(v: &Value, depth: usize) -> Result<Json, String> {
    if depth > 64 {
        return Err("Can't convert to JSON: tables cannot be cyclic".into());
    }
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Number(n) => number(*n)?,
        Value::String(s) => Json::String(s.to_string_lossy()),
        Value::Table(t) => {
            let len = t.raw_len();
            if len > 0 {
                let mut arr = Vec::with_capacity(len);
                for i in 1..=len {
                    arr.push(to_json(
                        &t.raw_get::<Value>(i).map_err(|e| e.to_string())?,
                        depth + 1,
                    )?);
                }
                Json::Array(arr)
            } else {
                let mut map = Map::new();
                for pair in t.pairs::<Value, Value>() {
                    let (k, val) = pair.map_err(|e| e.to_string())?;
                    let key = match &k {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Number(n) => number(*n)?.to_string(),
                        Value::Integer(i) => i.to_string(),
                        other => {
                            return Err(format!(
                                "Can't convert to JSON: a {} key",
                                other.type_name()
                            ));
                        }
                    };
                    map.insert(key, to_json(&val, depth + 1)?);
                }
                if map.is_empty() {
                    Json::Array(vec![])
                } else {
                    Json::Object(map)
                }
            }
        }
        other => {
            return Err(format!(
                "Can't convert to JSON: {} values",
                other.type_name()
            ));
        }
    })
}

fn number(n: f64) -> Result<Json, String> {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        Ok(Json::Number((n as i64).into()))
    } else {
        Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| "Can't convert to JSON: inf and nan are not JSON".to_owned())
    }
}

/// `HttpService:JSONDecode`: objects and arrays become tables, `null` becomes nil, numbers are
/// Luau numbers (doubles).
fn from_json(lua: &Lua, v: &Json) -> mlua::Result<Value> {
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(a) => {
            let t = lua.create_table()?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, x)?)?;
            }
            Value::Table(t)
        }
        Json::Object(o) => {
            let t = lua.create_table()?;
            for (k, x) in o {
                t.raw_set(k.as_str(), from_json(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}
