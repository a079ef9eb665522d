// SPDX-License-Identifier: GPL-2.0

//! Files that hold what a node had in memory (vmcores, their dmesg text):
//! created private and never through a link.
//!
//! - A file is created mode 0600 with `O_CREAT|O_EXCL|O_NOFOLLOW`: an
//!   existing file, or a symlink planted at the path, is refused, never
//!   followed or truncated.
//! - With `force`, the data goes to a new private file in the same
//!   directory, which is renamed over the path once it is complete and on
//!   stable storage: the old file is replaced whole (a symlink at the path is
//!   replaced, its target untouched), and a reader never sees half a file.
//! - A directory others can write to (group or other write permission) is
//!   refused unless the caller says it is fine: anyone who can write there
//!   can rename or replace what we write.
//! - Directories this module creates are mode 0700.

use crate::error::Error;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How a private file may be written.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Replace an existing file (atomically).
    pub force: bool,
    /// Accept a directory that others can write to.
    pub shared_dir: bool,
}

/// A private file being written; [`PrivateFile::commit`] makes it final.
pub struct PrivateFile {
    file: File,
    /// Where it ends up.
    path: PathBuf,
    /// Where it is written until then, if that is elsewhere (`force`).
    temp: Option<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// The directory `path` is in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses a directory that others can write to, unless allowed.
pub fn check_dir(dir: &Path, policy: Policy) -> Result<(), Error> {
    let meta = std::fs::metadata(dir).map_err(io(dir))?;
    if !meta.is_dir() {
        return Err(Error::Refused { path: dir.to_path_buf(), reason: "not a directory".into() });
    }
    if meta.mode() & 0o022 != 0 && !policy.shared_dir {
        return Err(Error::Refused {
            path: dir.to_path_buf(),
            reason: format!(
                "the directory is writable by others (mode {:04o}), who could replace what is written there; \
                 choose a private directory, or pass --shared-dir",
                meta.mode() & 0o7777
            ),
        });
    }
    Ok(())
}

/// Creates directory `dir` (mode 0700) and its missing parents (0700 too);
/// an existing one is checked with [`check_dir`].
pub fn create_dir(dir: &Path, policy: Policy) -> Result<(), Error> {
    if !dir.exists() {
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    }
    check_dir(dir, policy)
}

/// Opens `path` as a new private file: 0600, exclusive, not through a link.
fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

impl PrivateFile {
    /// Starts writing `path` under `policy`.
    pub fn create(path: &Path, policy: Policy) -> Result<Self, Error> {
        check_dir(parent_of(path), policy)?;
        match create_new(path) {
            Ok(file) => return Ok(Self { file, path: path.to_path_buf(), temp: None }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && policy.force => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Refused {
                    path: path.to_path_buf(),
                    reason: "it exists (a file or a link); nothing was written (--force replaces it)".into(),
                })
            }
            Err(e) => return Err(io(path)(e)),
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for attempt in 0..16 {
            let temp = parent_of(path).join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
            match create_new(&temp) {
                Ok(file) => return Ok(Self { file, path: path.to_path_buf(), temp: Some(temp) }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&temp)(e)),
            }
        }
        Err(Error::Refused { path: path.to_path_buf(), reason: "no free temporary name beside it".into() })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Makes the file final: on stable storage, then (with `force`) renamed
    /// over the path, and the directory synced.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let path = self.path.clone();
        self.file.flush().map_err(io(&path))?;
        self.file.sync_all().map_err(io(&path))?;
        // Renamed: nothing for `drop` to remove.
        if let Some(temp) = self.temp.take() {
            if let Err(e) = std::fs::rename(&temp, &path) {
                let _ = std::fs::remove_file(&temp);
                return Err(io(&path)(e));
            }
        }
        let dir = parent_of(&path);
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
        Ok(path)
    }

    /// Writes `data` to `path` as one private file.
    pub fn write_all(path: &Path, policy: Policy, data: &[u8]) -> Result<PathBuf, Error> {
        let mut f = Self::create(path, policy)?;
        f.file().write_all(data).map_err(io(path))?;
        f.commit()
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        // A file not committed is not left behind half-written under a
        // temporary name; one written to its own path stays (what it holds
        // is reported by the caller).
        if let Some(temp) = &self.temp {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn private_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ct-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DirBuilder::new().mode(0o700).create(&dir).unwrap();
        dir
    }

    #[test]
    fn a_new_file_is_0600_and_an_existing_one_is_refused() {
        let dir = private_dir("new");
        let path = dir.join("vmcore");
        PrivateFile::write_all(&path, Policy::default(), b"one").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        let refused = PrivateFile::write_all(&path, Policy::default(), b"two");
        assert!(matches!(refused, Err(Error::Refused { .. })), "{refused:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = private_dir("link");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.join("vmcore");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(PrivateFile::write_all(&path, Policy::default(), b"dump").is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // With --force the link itself is replaced, not its target.
        PrivateFile::write_all(&path, Policy { force: true, ..Policy::default() }, b"dump").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&path).unwrap(), b"dump");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn force_replaces_whole_and_leaves_no_temporary() {
        let dir = private_dir("force");
        let path = dir.join("vmcore");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = PrivateFile::create(&path, Policy { force: true, ..Policy::default() }).unwrap();
        f.file().write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old", "replaced before commit");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Dropped without commit: the temporary goes, the old file stays.
        let f = PrivateFile::create(&path, Policy { force: true, ..Policy::default() }).unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_others_can_write_is_refused_unless_allowed() {
        let dir = private_dir("shared");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        let path = dir.join("vmcore");
        let refused = PrivateFile::write_all(&path, Policy::default(), b"x");
        assert!(matches!(refused, Err(Error::Refused { .. })), "{refused:?}");
        assert!(!path.exists());
        PrivateFile::write_all(&path, Policy { shared_dir: true, ..Policy::default() }, b"x").unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn created_directories_are_0700() {
        let dir = private_dir("mkdir");
        let crash = dir.join("crash").join("20261202-033000");
        create_dir(&crash, Policy::default()).unwrap();
        assert_eq!(std::fs::metadata(&crash).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(std::fs::metadata(dir.join("crash")).unwrap().mode() & 0o7777, 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
