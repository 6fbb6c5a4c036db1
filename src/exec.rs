//! The only place that execs: finds the command on `PATH` as `execvp` would and replaces
//! stsexec's process with it, so the command's exit status and signals are its own.
#![forbid(unsafe_code)]

use crate::env::Environment;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the command did not start: what was looked for or tried, and what the system said.
/// `Display` is the sentence; `error.rs` maps the not-found kinds to 127 and the rest but
/// `TooLarge` to 126, as `env` does.
#[derive(Debug)]
pub enum ExecError {
    EmptyCommand,
    /// No directory to search: `PATH` is set but empty.
    PathEmpty {
        program: String,
    },
    NotInPath {
        program: String,
    },
    /// The kernel found no file (a dangling name, or a script's missing interpreter).
    NoSuchFile {
        path: PathBuf,
    },
    /// Found on `PATH`, but not an executable regular file.
    NotAnExecutableFile {
        path: PathBuf,
    },
    Directory {
        path: PathBuf,
    },
    PermissionDenied {
        path: PathBuf,
    },
    /// Not a binary and not a `#!` script, and `/bin/sh` could not run it either.
    ShellRefused {
        path: PathBuf,
        error: std::io::Error,
    },
    CannotExecute {
        path: PathBuf,
        error: std::io::Error,
    },
    /// E2BIG: the command line and environment exceed the kernel's limit.
    TooLarge {
        path: PathBuf,
    },
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::EmptyCommand => f.write_str("the command is empty"),
            ExecError::PathEmpty { program } => write!(
                f,
                "{program}: command not found (PATH is empty; give the command's full path)"
            ),
            ExecError::NotInPath { program } => write!(f, "{program}: command not found in PATH"),
            ExecError::NoSuchFile { path } => {
                write!(f, "{}: no such file or directory", path.display())
            }
            ExecError::NotAnExecutableFile { path } => write!(
                f,
                "{}: permission denied (not an executable file)",
                path.display()
            ),
            ExecError::Directory { path } => write!(f, "{}: is a directory", path.display()),
            ExecError::PermissionDenied { path } => {
                write!(f, "{}: permission denied", path.display())
            }
            ExecError::ShellRefused { path, error } => {
                write!(f, "{}: cannot run it with /bin/sh: {error}", path.display())
            }
            ExecError::CannotExecute { path, error } => {
                write!(f, "{}: cannot execute: {error}", path.display())
            }
            ExecError::TooLarge { path } => write!(
                f,
                "{}: the arguments and environment are too large for the system (E2BIG); unset large variables before running stsexec",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ExecError {}

type Error = ExecError;

/// glibc's search path when `PATH` is unset (`confstr(_CS_PATH)`).
const DEFAULT_SEARCH_PATH: &str = "/bin:/usr/bin";

/// The command to run; `Debug` names the environment's variables but shows no value.
pub struct ExecPlan {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
}

impl fmt::Debug for ExecPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecPlan")
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// The command line from the arguments after the account, else `$SHELL`, else `/bin/sh`.
pub fn command_or_shell(
    command: Vec<OsString>,
    current: &Environment,
) -> (OsString, Vec<OsString>) {
    let mut words = command.into_iter();
    match words.next() {
        Some(program) => (program, words.collect()),
        None => (
            current
                .get_os("SHELL")
                .filter(|s| !s.is_empty())
                .unwrap_or(OsStr::new("/bin/sh"))
                .to_os_string(),
            Vec::new(),
        ),
    }
}

/// Where `program` is: as given when it contains a '/', else the first executable regular
/// file in `PATH` (empty entries, which would mean the current directory, are skipped).
pub fn find_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, Error> {
    if program.is_empty() {
        return Err(Error::EmptyCommand);
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let search = path_var.unwrap_or(OsStr::new(DEFAULT_SEARCH_PATH));
    let dirs: Vec<&Path> = search
        .as_bytes()
        .split(|b| *b == b':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(OsStr::from_bytes(dir)))
        .collect();
    if dirs.is_empty() {
        return Err(Error::PathEmpty {
            program: program.to_string_lossy().into_owned(),
        });
    }
    let mut not_executable = None;
    for dir in dirs {
        let candidate = dir.join(program);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        not_executable.get_or_insert(candidate);
    }
    match not_executable {
        Some(path) => Err(Error::NotAnExecutableFile { path }),
        None => Err(Error::NotInPath {
            program: program.to_string_lossy().into_owned(),
        }),
    }
}

/// Replaces this process with the command. Returns only when that failed.
pub fn exec(plan: &ExecPlan, path_var: Option<&OsStr>) -> Error {
    let path = match find_program(&plan.program, path_var) {
        Ok(path) => path,
        Err(e) => return e,
    };
    let err = Command::new(&path)
        .arg0(&plan.program)
        .args(&plan.args)
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .exec();
    // exec returned: the command did not start.
    match err.raw_os_error() {
        Some(libc::ENOENT) => Error::NoSuchFile { path },
        Some(libc::ENOEXEC) => {
            // As execvp does: a file without "#!" is a shell script.
            let err = Command::new("/bin/sh")
                .arg0(&plan.program)
                .arg(&path)
                .args(&plan.args)
                .env_clear()
                .envs(plan.env.iter().map(|(k, v)| (k, v)))
                .exec();
            Error::ShellRefused { path, error: err }
        }
        Some(libc::EACCES) if path.is_dir() => Error::Directory { path },
        Some(libc::EACCES) => Error::PermissionDenied { path },
        Some(libc::E2BIG) => Error::TooLarge { path },
        _ => Error::CannotExecute { path, error: err },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, mode) in [
            ("a/tool", 0o755),
            ("b/tool", 0o755),
            ("a/plain", 0o644),
            ("b/plain", 0o755),
        ] {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::create_dir_all(dir.path().join("a/adir")).unwrap();
        dir
    }

    fn path_of(dir: &Path) -> OsString {
        format!("{}:{}", dir.join("a").display(), dir.join("b").display()).into()
    }

    #[test]
    fn path_search_takes_the_first_executable() {
        let dir = tree();
        let path = path_of(dir.path());
        assert_eq!(
            find_program(OsStr::new("tool"), Some(&path)).unwrap(),
            dir.path().join("a/tool")
        );
        // A non-executable match is skipped when a later entry has an executable one.
        assert_eq!(
            find_program(OsStr::new("plain"), Some(&path)).unwrap(),
            dir.path().join("b/plain")
        );
    }

    #[test]
    fn not_found_and_not_executable_map_to_127_and_126() {
        let dir = tree();
        let only_a: OsString = dir.path().join("a").into();
        let err = find_program(OsStr::new("missing"), Some(&only_a)).unwrap_err();
        assert!(matches!(err, Error::NotInPath { .. }));
        let err = find_program(OsStr::new("plain"), Some(&only_a)).unwrap_err();
        assert!(matches!(err, Error::NotAnExecutableFile { .. }), "{err}");
        let err = find_program(OsStr::new("adir"), Some(&only_a)).unwrap_err();
        assert!(matches!(err, Error::NotAnExecutableFile { .. }), "{err}");
        let err = find_program(OsStr::new("tool"), Some(OsStr::new(""))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tool: command not found (PATH is empty; give the command's full path)"
        );
        assert!(matches!(
            find_program(OsStr::new(""), None).unwrap_err(),
            Error::EmptyCommand
        ));
        for (err, code) in [
            (
                Error::NotInPath {
                    program: "x".into(),
                },
                127,
            ),
            (Error::NotAnExecutableFile { path: "/x".into() }, 126),
            (Error::TooLarge { path: "/x".into() }, 125),
        ] {
            assert_eq!(crate::error::Error::from(err).exit_code(), code);
        }
    }

    #[test]
    fn a_slash_skips_the_search() {
        assert_eq!(
            find_program(OsStr::new("./x"), Some(OsStr::new(""))).unwrap(),
            PathBuf::from("./x")
        );
    }

    #[test]
    fn debug_names_variables_but_shows_no_value() {
        let plan = ExecPlan {
            program: "aws".into(),
            args: vec!["s3".into(), "ls".into()],
            env: vec![("AWS_SECRET_ACCESS_KEY".into(), "SECRETMARKER".into())],
        };
        let shown = format!("{plan:?}");
        assert!(
            shown.contains("AWS_SECRET_ACCESS_KEY") && !shown.contains("SECRETMARKER"),
            "{shown}"
        );
    }

    #[test]
    fn default_command_is_the_shell() {
        let with_shell = Environment::from_pairs([("SHELL", "/bin/zsh")]);
        assert_eq!(
            command_or_shell(vec![], &with_shell),
            ("/bin/zsh".into(), vec![])
        );
        assert_eq!(
            command_or_shell(vec![], &Environment::default()),
            ("/bin/sh".into(), vec![])
        );
        let (program, args) = command_or_shell(vec!["env".into(), "-0".into()], &with_shell);
        assert_eq!((program, args), ("env".into(), vec!["-0".into()]));
    }
}
