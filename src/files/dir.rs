//! The credentials directory: it and, up to `$HOME`, every directory above it must be the
//! user's (or root's) and not writable by group or others, as OpenSSH requires of `~/.ssh`.
#![forbid(unsafe_code)]

use super::open::{effective_uid, plain_io_error};
use std::fmt;
use std::path::{Path, PathBuf};

/// The credentials directory and every directory above it must be the user's (or root's) and
/// not writable by group or others, as OpenSSH requires of `~/.ssh`: whoever can rename an
/// entry on the way can replace keys or sessions. Under `home` the walk ends at `home`;
/// elsewhere (`--creds-dir /srv/ci/creds`, no `HOME`) it goes up to `/`, where a directory
/// others may write is accepted only with the sticky bit (`/tmp`: nobody renames another
/// user's entry there).
pub fn check_directory_chain(path: &Path, home: Option<&Path>) -> Result<(), DirectoryError> {
    check_directory(path)?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let home = home.filter(|h| absolute.starts_with(h));
    if home.is_some_and(|h| absolute == *h) {
        return Ok(());
    }
    for parent in absolute.ancestors().skip(1) {
        let checked = match home {
            Some(_) => check_directory(parent),
            None => check_outer_directory(parent),
        };
        checked.map_err(|e| match e {
            DirectoryError::Writable(dir, mode) => DirectoryError::ParentWritable(dir, mode),
            DirectoryError::ForeignOwner(dir, uid) => DirectoryError::ParentForeign(dir, uid),
            other => other,
        })?;
        if Some(parent) == home {
            break;
        }
    }
    Ok(())
}

/// A directory above a credentials directory outside `$HOME`: as [`check_directory`], but a
/// sticky directory others may write (`/tmp`) is safe, since only an entry's owner can rename
/// it there.
fn check_outer_directory(path: &Path) -> Result<(), DirectoryError> {
    match check_directory(path) {
        Err(DirectoryError::Writable(_, mode)) if mode & 0o1000 != 0 => Ok(()),
        other => other,
    }
}

/// Creates a missing credentials directory, owner-only, one level deep (its parent must
/// exist): `--web-identity` runs in CI, where nothing has made `~/aws-creds`, and its role
/// sessions are cached there like any other.
pub fn create_directory(path: &Path) -> Result<(), DirectoryError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(DirectoryError::Unreadable(path.to_path_buf(), e)),
    }
}

/// The credentials directory and everything stsexec keeps in it must be the user's (or
/// root's) and not writable by others: whoever can write there can replace keys or sessions.
pub fn check_directory(path: &Path) -> Result<(), DirectoryError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DirectoryError::Missing(path.to_path_buf()));
        }
        Err(e) => return Err(DirectoryError::Unreadable(path.to_path_buf(), e)),
    };
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() {
        return Err(DirectoryError::NotADirectory(path.to_path_buf()));
    }
    if meta.uid() != effective_uid() && meta.uid() != 0 {
        return Err(DirectoryError::ForeignOwner(path.to_path_buf(), meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(DirectoryError::Writable(
            path.to_path_buf(),
            meta.mode() & 0o7777,
        ));
    }
    Ok(())
}

/// Why the credentials directory is not used.
#[derive(Debug)]
pub enum DirectoryError {
    Missing(PathBuf),
    NotADirectory(PathBuf),
    Unreadable(PathBuf, std::io::Error),
    ForeignOwner(PathBuf, u32),
    Writable(PathBuf, u32),
    ParentForeign(PathBuf, u32),
    ParentWritable(PathBuf, u32),
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::Missing(path) => write!(
                f,
                "credentials directory {} does not exist; create it (mkdir -m 700 {}) and put <account>.access_key and <account>.secret_key there, or point --creds-dir at yours",
                path.display(),
                path.display()
            ),
            DirectoryError::NotADirectory(path) => write!(
                f,
                "credentials directory {} is not a directory; point --creds-dir at the directory that holds your keys",
                path.display()
            ),
            DirectoryError::Unreadable(path, e) => write!(
                f,
                "cannot read credentials directory {}: {}",
                path.display(),
                plain_io_error(e)
            ),
            DirectoryError::ForeignOwner(path, uid) => write!(
                f,
                "credentials directory {} belongs to another user (uid {uid}); use a directory of your own (--creds-dir)",
                path.display()
            ),
            DirectoryError::ParentForeign(path, uid) => write!(
                f,
                "{} (above the credentials directory) belongs to another user (uid {uid}), who could replace your keys; move the credentials directory (--creds-dir)",
                path.display()
            ),
            DirectoryError::ParentWritable(path, mode) => write!(
                f,
                "{} (above the credentials directory) is writable by group or others (mode {mode:04o}), who could replace your keys; run: chmod go-w {}",
                path.display(),
                path.display()
            ),
            DirectoryError::Writable(path, mode) => write!(
                f,
                "credentials directory {} is writable by group or others (mode {mode:04o}); run: chmod go-w {}",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for DirectoryError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn directories_up_to_home_must_not_be_writable_by_others() {
        let home = tempfile::tempdir().unwrap();
        let creds = home.path().join("a/aws-creds");
        std::fs::create_dir_all(&creds).unwrap();
        for dir in [home.path(), &home.path().join("a"), &creds] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(check_directory_chain(&creds, Some(home.path())).is_ok());
        let middle = home.path().join("a");
        std::fs::set_permissions(&middle, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            check_directory_chain(&creds, Some(home.path()))
                .unwrap_err()
                .to_string(),
            format!(
                "{} (above the credentials directory) is writable by group or others (mode 0777), who could replace your keys; run: chmod go-w {}",
                middle.display(),
                middle.display()
            )
        );
        // Directories above HOME are not walked (the test's HOME lies in /tmp).
        std::fs::set_permissions(&middle, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_directory_chain(&creds, Some(home.path())).is_ok());
    }

    #[test]
    fn directories_above_a_credentials_directory_outside_home_are_checked_up_to_the_root() {
        // Issue 20 item 11: `--creds-dir` outside $HOME got no parent check at all.
        let outer = tempfile::tempdir().unwrap();
        let creds = outer.path().join("shared/aws-creds");
        std::fs::create_dir_all(&creds).unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o700)).unwrap();
        let shared = outer.path().join("shared");
        let home = tempfile::tempdir().unwrap();
        for mode in [0o755, 0o1777] {
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(check_directory_chain(&creds, Some(home.path())).is_ok());
            assert!(check_directory_chain(&creds, None).is_ok());
        }
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        for home in [Some(home.path()), None] {
            assert_eq!(
                check_directory_chain(&creds, home).unwrap_err().to_string(),
                format!(
                    "{} (above the credentials directory) is writable by group or others (mode 0777), who could replace your keys; run: chmod go-w {}",
                    shared.display(),
                    shared.display()
                )
            );
        }
    }
}
