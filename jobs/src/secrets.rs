//! Secrets: values that must never print, the master key, and sealed credentials.
//!
//! Upstream credentials (Open Cloud keys, later Discord bot tokens) are sealed with the master
//! key (XChaCha20-Poly1305, random 192-bit nonce) before they touch the store or a job payload.
//! A sealed value is bound to its purpose by associated data, so a sealed Open Cloud key for
//! group 7 cannot be replayed as the key of group 8.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A string that never shows up in `Debug`, `Display` or serialized output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value itself. Call sites are the only places a secret is used; keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Errors from sealing and key handling. Messages never include secret material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured or stored master key is malformed.
    #[error("master key must be 32 bytes, given as 44 base64 or 64 hex characters")]
    BadMasterKey,
    /// A sealed value failed authentication (wrong key, wrong purpose, or tampered).
    #[error("sealed value could not be opened: wrong master key, wrong purpose, or corrupted")]
    Open,
    /// The sealed value is not in the `v1:` format.
    #[error("sealed value is malformed")]
    Malformed,
    /// Reading or writing a key file.
    #[error("{0}")]
    Io(String),
}

/// The 32-byte key that seals credentials.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    fingerprint: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint {})", self.fingerprint)
    }
}

impl MasterKey {
    /// Parses 32 bytes given as base64 (standard or URL-safe) or hex.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|_| SecretError::BadMasterKey)?
        } else {
            STANDARD
                .decode(t)
                .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
                .map_err(|_| SecretError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadMasterKey)?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let fp = hex::encode(&Sha256::digest(key)[..4]);
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
            fingerprint: fp,
        }
    }

    /// A fresh random key and its base64 text.
    pub fn generate() -> (Self, String) {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        (Self::from_bytes(key), STANDARD.encode(key))
    }

    /// A short, non-secret fingerprint (first 4 bytes of SHA-256), to tell keys apart in logs.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Loads `path`, or creates it with a fresh key and mode 0600. Returns the key and whether
    /// it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), SecretError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, text) = Self::generate();
                write_private(path, &text)?;
                Ok((key, true))
            }
            Err(e) => Err(SecretError::Io(format!(
                "cannot read master key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Seals `plaintext` for `purpose` (associated data that must match when opening).
    pub fn seal(&self, purpose: &str, plaintext: &str) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Sealed(format!("v1:{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a sealed value for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<Secret, SecretError> {
        let body = sealed.0.strip_prefix("v1:").ok_or(SecretError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Malformed)?;
        if raw.len() < 24 + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ct) = raw.split_at(24);
        let pt = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(pt)
            .map(Secret)
            .map_err(|_| SecretError::Malformed)
    }
}

/// A sealed credential: safe to store, log-safe, useless without the master key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// Writes `text` to `path` readable by the owner only (0600), failing if it already exists.
pub fn write_private(path: &Path, text: &str) -> Result<(), SecretError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| SecretError::Io(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| SecretError::Io(format!("cannot write {}: {e}", path.display())))
}

/// SHA-256 of a token, hex. API keys and the admin token are stored only as this.
pub fn token_hash(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// A random token: `prefix` followed by 32 URL-safe characters (192 bits of entropy).
pub fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_purpose_binding() {
        let (k, text) = MasterKey::generate();
        let s = k.seal("opencloud:group:7", "super-secret");
        assert!(!format!("{s:?}").contains("super"));
        assert_eq!(
            k.open("opencloud:group:7", &s).unwrap().expose(),
            "super-secret"
        );
        assert!(k.open("opencloud:group:8", &s).is_err());
        let k2 = MasterKey::parse(&text).unwrap();
        assert_eq!(k2.fingerprint(), k.fingerprint());
        assert!(k2.open("opencloud:group:7", &s).is_ok());
        let (other, _) = MasterKey::generate();
        assert!(other.open("opencloud:group:7", &s).is_err());
    }

    #[test]
    fn master_key_formats() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert_eq!(format!("{:?}", Secret::new("x")), "Secret([redacted])");
    }

    #[test]
    fn key_file_is_private() {
        let dir = std::env::temp_dir().join(format!("roster-mk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("master.key");
        let _ = std::fs::remove_file(&p);
        let (k1, created) = MasterKey::load_or_create(&p).unwrap();
        assert!(created);
        let (k2, created) = MasterKey::load_or_create(&p).unwrap();
        assert!(!created);
        assert_eq!(k1.fingerprint(), k2.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
