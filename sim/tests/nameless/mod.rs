//! Behaviour of the NamelessMC website simulator over real HTTP, driven with reqwest; and the site's call to its bot,
//! received by a bare TCP listener that records the request byte for byte.
//!
//! Every test starts its own site on 127.0.0.1:0 and stops it at the end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::nameless::{
    BotReply, BotSettings, NamelessSim, NamelessSimConfig, RoleChangeRequest, SiteRole,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

mod api;
mod bot;
mod control;
mod discord_endpoints;

/// The site's key in every test (the default config makes a random one).
const KEY: &str = "Zq8hV3kLm0pR7sT2uW5xY9aB4cD6eF1gH3jK5nP7rS9";

const JSON: &str = "application/json; charset=UTF-8";

const SETTINGS_UPDATED: &str = r#"{"message":"Discord settings updated successfully"}"#;

fn config() -> NamelessSimConfig {
    NamelessSimConfig {
        api_key: KEY.into(),
        ..NamelessSimConfig::default()
    }
}

/// How a request presents the key.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    XApiKey(&'a str),
    /// The raw `Authorization` header value.
    Raw(&'a str),
}

/// A running site with a client; `stop` shuts it down and checks the server task ends.
struct TestSite {
    sim: NamelessSim,
    served: crate::Served,
}

impl std::ops::Deref for TestSite {
    type Target = crate::Served;

    fn deref(&self) -> &crate::Served {
        &self.served
    }
}

/// An answer.
struct Reply {
    status: u16,
    content_type: Option<String>,
    text: String,
    body: Value,
}

impl Reply {
    /// Asserts status, the API's content type and the exact body text.
    #[track_caller]
    fn expect(&self, status: u16, text: &str) {
        assert_eq!(
            (self.status, self.text.as_str()),
            (status, text),
            "unexpected answer"
        );
        assert_eq!(self.content_type.as_deref(), Some(JSON));
    }
}

impl TestSite {
    async fn start(config: NamelessSimConfig) -> Self {
        let sim = NamelessSim::new(config);
        let served = crate::Served::start(|addr, stop| sim.serve(addr, stop)).await;
        Self { sim, served }
    }

    async fn stop(mut self) {
        self.served.stop().await;
    }

    /// `{site}/index.php?route=/api/v2/<endpoint>`, the URL form every site serves.
    fn api_url(&self, endpoint: &str) -> String {
        format!("{}/index.php?route=/api/v2/{endpoint}", self.base)
    }

    fn request(&self, method: Method, url: &str, auth: Auth<'_>) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, url);
        match auth {
            Auth::None => builder,
            Auth::Bearer(key) => builder.header("authorization", format!("Bearer {key}")),
            Auth::XApiKey(key) => builder.header("x-api-key", key),
            Auth::Raw(value) => builder.header("authorization", value),
        }
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let response = builder.send().await.expect("the request is answered");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("the body is read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            text,
            body,
        }
    }

    async fn get(&self, endpoint: &str, auth: Auth<'_>) -> Reply {
        self.send(self.request(Method::GET, &self.api_url(endpoint), auth))
            .await
    }

    /// A POST with a raw body and no `Content-Type` (PHP reads `php://input` whatever the type).
    async fn post(&self, endpoint: &str, auth: Auth<'_>, body: &str) -> Reply {
        self.send(
            self.request(Method::POST, &self.api_url(endpoint), auth)
                .body(body.to_owned()),
        )
        .await
    }

    /// A POST with a JSON body, as a bot sends it.
    async fn post_json(&self, endpoint: &str, body: Value) -> Reply {
        self.send(
            self.request(Method::POST, &self.api_url(endpoint), Auth::Bearer(KEY))
                .json(&body),
        )
        .await
    }

    /// A `/_sim` control call.
    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut builder = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        self.send(builder).await
    }
}

/// A request the bot listener received.
#[derive(Debug)]
struct Received {
    /// `POST /applyRoleChanges HTTP/1.1`.
    request_line: String,
    /// Header names lower-cased, in the order sent.
    header_names: Vec<String>,
    headers: HashMap<String, String>,
    body: String,
}

/// How the bot listener answers.
#[derive(Clone, Copy)]
enum BotBehaviour {
    /// This status with this JSON body.
    Answer(u16, &'static str),
    /// Reads the request and never answers (holds the connection for 10 s).
    Hang,
}

/// A bare HTTP/1.1 listener standing in for the Discord bot: records every request as sent.
async fn bot_listener(behaviour: BotBehaviour) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the bot listener binds");
    let addr = listener.local_addr().expect("bound address");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Some(received) = read_request(&mut stream).await else {
                    return;
                };
                let _ = tx.send(received);
                match behaviour {
                    BotBehaviour::Answer(status, body) => {
                        let response = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    BotBehaviour::Hang => tokio::time::sleep(Duration::from_secs(10)).await,
                }
            });
        }
    });
    (addr, rx)
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let mut header_names = Vec::new();
    let mut headers = HashMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        header_names.push(name.clone());
        headers.insert(name, value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some(Received {
        request_line,
        header_names,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}
