//! The on-disk record of a cached session: a format name and version, what the session is for
//! (the slot and the request that made it), and the credentials. Bytes are untrusted: anything
//! unexpected is a [`Miss`], never a panic.
#![forbid(unsafe_code)]

use super::{CachedSession, Miss, Slot};
use crate::files::Kind;
use crate::files::record::{self as records, RecordError, Versioned};
use crate::secret::{Secret, is_access_key_id};
use crate::session::{Credentials, rfc3339};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;
use zeroize::Zeroizing;

const FORMAT: &str = "stsexec-session-cache";
pub const VERSION: u32 = 2;

#[derive(Serialize, Deserialize, Debug)]
pub struct Record {
    format: String,
    version: u32,
    account: String,
    mfa_serial: Option<String>,
    pub role_arn: Option<String>,
    source_key_id: String,
    /// `AWS_ENDPOINT_URL_STS`/`AWS_ENDPOINT_URL` when one chose the endpoint: a session from
    /// another endpoint is never served.
    endpoint: Option<String>,
    /// Assumed with an OIDC token (absent in files written before `--web-identity`: false).
    #[serde(default)]
    web_identity: bool,
    /// The OIDC token's identity hash (web identity only; absent before it was kept).
    #[serde(default)]
    identity: Option<String>,
    with_mfa: bool,
    session_name: Option<String>,
    external_id: Option<Secret>,
    produced_by: String,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    pub expiration: String,
    created: String,
}

impl Versioned for Record {
    const KIND: Kind = Kind::CacheFile;
    const FORMAT: Option<&'static str> = Some(FORMAT);
    const VERSION: u32 = VERSION;
    fn header(&self) -> (Option<&str>, u32) {
        (Some(&self.format), self.version)
    }
}

/// A well-formed record of this format version, whatever slot it is for.
pub fn parse_record(bytes: &[u8]) -> Result<Record, Miss> {
    records::parse(bytes).map_err(|e| match e {
        RecordError::File(e) => Miss::File(e),
        RecordError::NotOurs => Miss::NotOurs,
        RecordError::OtherVersion(v) => Miss::OtherVersion(v),
        RecordError::Damaged => Miss::Damaged("fields missing or of the wrong type"),
    })
}

/// A cache file's bytes as a session for `slot`, or why they are not one.
pub fn parse(bytes: &[u8], slot: &Slot) -> Result<CachedSession, Miss> {
    let record = parse_record(bytes)?;
    if record.account != slot.account.as_str()
        || record.role_arn != slot.role_arn
        || record.mfa_serial != slot.mfa_serial
        || record.web_identity != slot.web_identity
        || record.identity != slot.identity
    {
        return Err(Miss::OtherSlot);
    }
    if record.source_key_id != slot.source_key_id {
        return Err(Miss::OtherKeys);
    }
    if record.endpoint != slot.endpoint {
        return Err(Miss::OtherEndpoint);
    }
    let expiration = humantime::parse_rfc3339_weak(&record.expiration)
        .map_err(|_| Miss::Damaged("bad expiration"))?;
    if !is_access_key_id(&record.access_key_id)
        || record.secret_access_key.expose().is_empty()
        || record.session_token.expose().is_empty()
    {
        return Err(Miss::Damaged("credentials missing"));
    }
    Ok(CachedSession {
        credentials: Credentials {
            access_key_id: record.access_key_id,
            secret_access_key: record.secret_access_key,
            session_token: Some(record.session_token),
            expiration: Some(expiration),
        },
        with_mfa: record.with_mfa,
        session_name: record.session_name,
        external_id: record.external_id,
    })
}

/// The record for a session; `None` for long-lived keys, which are never cached.
pub fn encode(
    slot: &Slot,
    session: &CachedSession,
    produced_by: &str,
) -> Option<Zeroizing<Vec<u8>>> {
    let creds = &session.credentials;
    let (Some(token), Some(expiration)) = (&creds.session_token, creds.expiration) else {
        return None;
    };
    let record = Record {
        format: FORMAT.into(),
        version: VERSION,
        account: slot.account.to_string(),
        mfa_serial: slot.mfa_serial.clone(),
        role_arn: slot.role_arn.clone(),
        source_key_id: slot.source_key_id.clone(),
        endpoint: slot.endpoint.clone(),
        web_identity: slot.web_identity,
        identity: slot.identity.clone(),
        with_mfa: session.with_mfa,
        session_name: session.session_name.clone(),
        external_id: session.external_id.clone(),
        produced_by: produced_by.into(),
        access_key_id: creds.access_key_id.clone(),
        secret_access_key: creds.secret_access_key.clone(),
        session_token: token.clone(),
        expiration: rfc3339(expiration),
        created: rfc3339(SystemTime::now()),
    };
    Some(records::encode(&record))
}
