//! Files and folders only this station's user can read: the one place that sets their modes.
//!
//! Whatever the umask, a folder the station creates is 0700 and a file it writes (the database
//! and its `-wal`/`-shm`, exports, temporary files) is 0600: another account on the station, or
//! a backup job running as someone else, reads nothing. The mode is set when the file is
//! created (`OpenOptions::mode`, `DirBuilder::mode`) and then once more explicitly, since the
//! umask can take bits away at creation; files an older station left readable are fixed when
//! the store opens them. SQLite creates the `-wal` and `-shm` files with the database file's own
//! mode, so a 0600 database gives 0600 companions.
//!
//! On Windows the data folder is under the user's profile, whose ACL already keeps other
//! accounts out: these functions create files and folders plainly there.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every file the station writes.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of every folder the station creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Create `dir` and its missing parents, each new one 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder.create(dir)
}

/// Create `path`, which must not exist yet (no following a planted file or link), 0600.
pub fn create_new_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    let file = options.open(path)?;
    restrict_open_file(&file)?;
    Ok(file)
}

/// Create `path` 0600 if it does not exist (an empty file); an existing one keeps its content
/// and loses any group and other permission bits. For the database before SQLite opens it.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    match create_new_private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict_file_if_present(path),
        Err(e) => Err(e),
    }
}

/// Take away the group and other permission bits of an existing file (an older station's 0644
/// becomes 0600; a file its owner made read-only stays read-only); a missing one is fine.
pub fn restrict_file_if_present(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => restrict(path, &meta),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Take away the group and other permission bits of an existing folder (0755 becomes 0700).
pub fn restrict_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(dir)?;
    restrict(dir, &meta)
}

/// Group and other permission bits.
#[cfg(unix)]
const NOT_OWNER: u32 = 0o077;

#[cfg(unix)]
fn restrict(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & NOT_OWNER != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !NOT_OWNER))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _meta: &std::fs::Metadata) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn restrict_open_file(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if file.metadata()?.permissions().mode() & 0o7777 != PRIVATE_FILE_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_open_file(_file: &File) -> io::Result<()> {
    Ok(())
}

/// The permission bits of `path` (for tests and checks); `None` where modes do not exist.
pub fn mode_of(path: &Path) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(Some(std::fs::metadata(path)?.permissions().mode() & 0o7777))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|_| None)
    }
}
