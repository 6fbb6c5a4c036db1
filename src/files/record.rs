//! stsexec's own state as versioned, owner-only JSON records: the session cache, the used-code
//! ledger and the rotation journal are each one [`Versioned`] type, read with [`read`] (checked
//! as their [`Kind`] says, size-capped, then parsed: another format or version is told apart
//! from damage) and written with [`write`] (atomically, 0600). The bytes are wiped on drop:
//! two of the three hold secrets.
#![forbid(unsafe_code)]

use super::open::{self, FileError, Kind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use zeroize::Zeroizing;

/// A record type: its file kind, its format name (if it carries one) and its version.
pub trait Versioned: Serialize + DeserializeOwned {
    /// The file kind its files are checked as.
    const KIND: Kind;
    /// The value of its `format` field; `None` for records without one.
    const FORMAT: Option<&'static str>;
    /// The `version` this build reads and writes.
    const VERSION: u32;

    /// The record's own `format` and `version` fields.
    fn header(&self) -> (Option<&str>, u32);
}

/// Why a record's bytes are not a record of this build.
#[derive(Debug)]
pub enum RecordError {
    File(FileError),
    /// Not JSON, or another format.
    NotOurs,
    /// This format, another version.
    OtherVersion(u32),
    /// This format and version, but fields missing or of the wrong type.
    Damaged,
}

#[derive(serde::Deserialize)]
struct Header {
    #[serde(default)]
    format: Option<String>,
    version: u32,
}

/// Parses a record. One parse when the bytes are good; the header is read only to say why
/// they are not.
pub fn parse<T: Versioned>(bytes: &[u8]) -> Result<T, RecordError> {
    if let Ok(record) = serde_json::from_slice::<T>(bytes)
        && record.header() == (T::FORMAT, T::VERSION)
    {
        return Ok(record);
    }
    let header: Header = serde_json::from_slice(bytes).map_err(|_| RecordError::NotOurs)?;
    if header.format.as_deref() != T::FORMAT {
        return Err(RecordError::NotOurs);
    }
    if header.version != T::VERSION {
        return Err(RecordError::OtherVersion(header.version));
    }
    Err(RecordError::Damaged)
}

/// The record at `path`, or `None` when there is no file.
pub fn read<T: Versioned>(path: &Path) -> Result<Option<T>, RecordError> {
    match open::read(path, T::KIND) {
        Ok(Some(bytes)) => parse(&bytes).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(RecordError::File(e)),
    }
}

/// The record's bytes as they are written: pretty JSON and a newline.
pub fn encode<T: Versioned>(record: &T) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(serde_json::to_vec_pretty(record).unwrap_or_default());
    bytes.push(b'\n');
    bytes
}

/// Writes the record atomically, owner-only. Callers hold the lock that guards `path`.
pub fn write<T: Versioned>(path: &Path, record: &T) -> Result<(), FileError> {
    open::write_atomically(path, T::KIND, &encode(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Note {
        format: String,
        version: u32,
        text: String,
    }

    impl Versioned for Note {
        const KIND: Kind = Kind::CacheFile;
        const FORMAT: Option<&'static str> = Some("note");
        const VERSION: u32 = 3;
        fn header(&self) -> (Option<&str>, u32) {
            (Some(&self.format), self.version)
        }
    }

    #[test]
    fn records_round_trip_and_say_why_bytes_are_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("note.json");
        assert!(read::<Note>(&path).unwrap().is_none());
        let note = Note {
            format: "note".into(),
            version: 3,
            text: "hi".into(),
        };
        write(&path, &note).unwrap();
        assert_eq!(read::<Note>(&path).unwrap(), Some(note));
        let parsed = |text: &str| parse::<Note>(text.as_bytes()).unwrap_err();
        assert!(matches!(parsed("garbage"), RecordError::NotOurs));
        assert!(matches!(
            parsed(r#"{"format": "other", "version": 3}"#),
            RecordError::NotOurs
        ));
        assert!(matches!(
            parsed(r#"{"format": "note", "version": 9, "text": "x"}"#),
            RecordError::OtherVersion(9)
        ));
        assert!(matches!(
            parsed(r#"{"format": "note", "version": 3}"#),
            RecordError::Damaged
        ));
    }
}
