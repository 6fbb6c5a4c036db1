//! The used-code record (DESIGN §9: a code works once). STS refuses a TOTP code it has already
//! accepted, so stsexec remembers, per MFA device, the code and time of its last successful
//! call and never sends that code again while it could still be valid.
//!
//! The decision is a pure function of (record, code, now, step) — [`decide`] — so it is tested
//! with a fixed clock. The file goes through `files` (owner-only, no-follow, size cap,
//! atomic write); callers hold the account's lock while they read, call STS and record.
#![forbid(unsafe_code)]

use crate::files::record::{self as records, RecordError, Versioned};
use crate::files::{FileError, Kind};
use crate::report::Reporter;
use crate::secret::MfaCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const VERSION: u32 = 1;

/// How many steps an accepted code is treated as still valid: TOTP verifiers accept the
/// previous and next step too, so 3 steps (90 s with 30-s steps).
pub const STEPS_VALID: u32 = 3;

/// The last accepted code of one device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub code: String,
    /// Seconds since the Unix epoch.
    pub accepted: u64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry {{ code: ******, accepted: {} }}", self.accepted)
    }
}

/// The whole file: MFA serial → last accepted code.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    version: u32,
    devices: BTreeMap<String, Entry>,
}

/// What to do with a code about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not used recently: send it.
    Send,
    /// Accepted less than [`STEPS_VALID`] steps ago: sending it again would be refused. `wait`
    /// is the time to the start of the next step, when a command prints a new code.
    Reused { wait: Duration },
}

/// The pure rule: `code` equal to the device's last accepted code, accepted within
/// `STEPS_VALID × step` of `now` (or "in the future": a clock set back), is reused.
pub fn decide(entry: Option<&Entry>, code: &MfaCode, now: SystemTime, step: Duration) -> Decision {
    let Some(entry) = entry else {
        return Decision::Send;
    };
    if entry.code != code.expose() {
        return Decision::Send;
    }
    let now_secs = unix_secs(now);
    let window = step.as_secs().max(1) * u64::from(STEPS_VALID);
    if now_secs >= entry.accepted && now_secs - entry.accepted >= window {
        return Decision::Send;
    }
    Decision::Reused {
        wait: until_next_step(now, step),
    }
}

/// The time from `now` to the start of the next TOTP step (steps start at multiples of `step`
/// since the epoch), plus a small margin for the command's own clock reading.
pub fn until_next_step(now: SystemTime, step: Duration) -> Duration {
    let step_ms = step.as_millis().max(1);
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let left = step_ms - now_ms % step_ms;
    Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)) + Duration::from_millis(300)
}

/// When the device's last accepted code is of the step `now` is in, the time to the next
/// step: a command run now would print that code again (DESIGN §9, one touch per code).
pub fn step_still_current(
    entry: Option<&Entry>,
    now: SystemTime,
    step: Duration,
) -> Option<Duration> {
    let step_secs = step.as_secs().max(1);
    let entry = entry?;
    (entry.accepted / step_secs == unix_secs(now) / step_secs).then(|| until_next_step(now, step))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl Versioned for Record {
    const KIND: Kind = Kind::Ledger;
    const FORMAT: Option<&'static str> = None;
    const VERSION: u32 = VERSION;
    fn header(&self) -> (Option<&str>, u32) {
        (None, self.version)
    }
}

/// Why a record that was read is unusable (never fatal); `Display` ends the warning.
#[derive(Debug)]
enum Unusable {
    OtherVersion(u32),
    NotARecord,
    NotCodes,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::OtherVersion(v) => write!(f, "it has version {v}, not {VERSION}"),
            Unusable::NotARecord => f.write_str("it is not a valid record"),
            Unusable::NotCodes => f.write_str("it holds something other than MFA codes"),
        }
    }
}

fn unusable(e: &RecordError) -> Unusable {
    match e {
        RecordError::OtherVersion(v) => Unusable::OtherVersion(*v),
        _ => Unusable::NotARecord,
    }
}

/// Parses the file's bytes; `Err` is the reason it is unusable (never fatal).
#[cfg(test)]
fn parse(bytes: &[u8]) -> Result<Record, Unusable> {
    checked(records::parse(bytes).map_err(|e| unusable(&e))?)
}

/// A record whose entries are all MFA codes.
fn checked(record: Record) -> Result<Record, Unusable> {
    if record
        .devices
        .values()
        .any(|e| MfaCode::parse(&e.code).is_err())
    {
        return Err(Unusable::NotCodes);
    }
    Ok(record)
}

fn load_record(path: &Path, report: &Reporter) -> Record {
    let parsed = match records::read::<Record>(path) {
        Ok(None) => return Record::default(),
        Ok(Some(parsed)) => checked(parsed),
        Err(RecordError::File(e)) => {
            report.warn(format!("{e}; the MFA code record is ignored"));
            return Record::default();
        }
        Err(e) => Err(unusable(&e)),
    };
    parsed.unwrap_or_else(|why| {
        report.warn(format!(
            "MFA code record {} is ignored: {why}; it is rewritten after the next successful call",
            path.display()
        ));
        Record::default()
    })
}

/// The device's last accepted code, if the record holds one. An unreadable or garbage record
/// is ignored with a warning.
pub fn load(path: &Path, serial: &str, report: &Reporter) -> Option<Entry> {
    load_record(path, report).devices.remove(serial)
}

/// Records that STS accepted `code` for `serial` at `now`; entries too old to matter are
/// dropped. Callers hold the account's lock.
pub fn record(
    path: &Path,
    serial: &str,
    code: &MfaCode,
    now: SystemTime,
    step: Duration,
    report: &Reporter,
) -> Result<(), FileError> {
    let mut record = load_record(path, report);
    let now_secs = unix_secs(now);
    let window = step.as_secs().max(1) * u64::from(STEPS_VALID);
    record
        .devices
        .retain(|_, e| e.accepted > now_secs || now_secs - e.accepted < window);
    record.version = VERSION;
    record.devices.insert(
        serial.to_string(),
        Entry {
            code: code.expose().to_string(),
            accepted: now_secs,
        },
    );
    records::write(path, &record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_codes_step_is_current_only_within_its_step() {
        let step = Duration::from_secs(30);
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let entry = Entry {
            code: "123456".into(),
            accepted: 1_000_020,
        };
        // 1_000_020 is in the step [1_000_020, 1_000_050).
        assert_eq!(step_still_current(None, at(1_000_021), step), None);
        let wait = step_still_current(Some(&entry), at(1_000_040), step).unwrap();
        assert_eq!(wait, Duration::from_millis(10_300));
        assert_eq!(step_still_current(Some(&entry), at(1_000_050), step), None);
    }

    const STEP: Duration = Duration::from_secs(30);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn code(text: &str) -> MfaCode {
        MfaCode::parse(text).unwrap()
    }

    fn entry(text: &str, accepted: u64) -> Entry {
        Entry {
            code: text.into(),
            accepted,
        }
    }

    #[test]
    fn no_record_or_another_code_is_sent() {
        assert_eq!(
            decide(None, &code("123456"), at(1000), STEP),
            Decision::Send
        );
        let e = entry("111111", 1000);
        assert_eq!(
            decide(Some(&e), &code("123456"), at(1001), STEP),
            Decision::Send
        );
    }

    #[test]
    fn the_same_code_within_90_s_is_reused_and_waits_for_the_next_step() {
        // Accepted at 1_000_005 (step 33333 starts at 999_990, the next at 1_000_020).
        let e = entry("123456", 1_000_005);
        assert_eq!(
            decide(Some(&e), &code("123 456"), at(1_000_008), STEP),
            Decision::Reused {
                wait: Duration::from_millis(12_300)
            }
        );
        // Still inside the window at 89 s; free at 90 s.
        assert!(matches!(
            decide(Some(&e), &code("123456"), at(1_000_094), STEP),
            Decision::Reused { .. }
        ));
        assert_eq!(
            decide(Some(&e), &code("123456"), at(1_000_095), STEP),
            Decision::Send
        );
    }

    #[test]
    fn a_record_from_the_future_counts_as_recent() {
        let e = entry("123456", 2_000_000);
        assert!(matches!(
            decide(Some(&e), &code("123456"), at(1_000_000), STEP),
            Decision::Reused { .. }
        ));
    }

    #[test]
    fn a_short_step_shrinks_the_window() {
        let step = Duration::from_secs(3);
        let e = entry("123456", 100);
        assert!(matches!(
            decide(Some(&e), &code("123456"), at(108), step),
            Decision::Reused { .. }
        ));
        assert_eq!(
            decide(Some(&e), &code("123456"), at(109), step),
            Decision::Send
        );
        assert_eq!(until_next_step(at(108), step), Duration::from_millis(3_300));
    }

    #[test]
    fn records_round_trip_per_device_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let report = Reporter::new(true, false);
        assert_eq!(
            load(&path, "arn:aws:iam::012123456789:mfa/jb", &report),
            None
        );
        record(&path, "dev-a", &code("123456"), at(1000), STEP, &report).unwrap();
        record(&path, "dev-b", &code("654321"), at(1010), STEP, &report).unwrap();
        assert_eq!(load(&path, "dev-a", &report), Some(entry("123456", 1000)));
        assert_eq!(load(&path, "dev-b", &report), Some(entry("654321", 1010)));
        // Old entries are dropped when another device's code is recorded.
        record(&path, "dev-b", &code("222222"), at(1200), STEP, &report).unwrap();
        assert_eq!(load(&path, "dev-a", &report), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(load(&path, "dev-b", &report), None);
        assert!(parse(br#"{"version":2,"devices":{}}"#).is_err());
        assert!(parse(br#"{"version":1,"devices":{"d":{"code":"x","accepted":1}}}"#).is_err());
        assert!(format!("{:?}", entry("123456", 1)).contains("******"));
    }
}
