//! Watches what a snapshot is read from (`inputs`): the directories of
//! the configuration, key, TLS and JWK Set files. Directories, not files: Kubernetes updates a mounted ConfigMap or
//! Secret by renaming a `..data` symlink to a new directory, which a watch
//! on the file (or its inode) never sees, while its directory does.
//!
//! notify's thread only sends `()` into a channel; the `Reloader`
//! debounces ([`Debounce`]) and reloads. Reads (opens, closes after reading) are
//! not changes: a reload reading the files must not trigger the next one.
//! Only the files a snapshot reads count (the config file by name, `*.pem`,
//! the TLS files by name, and Kubernetes' `..data`/`..<timestamp>` entries):
//! a log file written beside the configuration would otherwise make the
//! server re-read everything four times a second.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::inputs;
use crate::config::Settings;

pub struct Watch {
    watcher: RecommendedWatcher,
    /// File names that matter, shared with notify's thread.
    names: Arc<RwLock<Vec<OsString>>>,
    /// The directories being watched.
    dirs: Vec<PathBuf>,
    /// One `()` per relevant event.
    pub changes: UnboundedReceiver<()>,
}

impl Watch {
    /// Watches the directories `settings` reads from; `None` (with a
    /// warning) when no watcher can be made, e.g. past the inotify limits.
    pub fn start(settings: &Settings) -> Option<Self> {
        let (tx, changes) = unbounded_channel();
        let names = Arc::new(RwLock::new(names(settings)));
        let seen = Arc::clone(&names);
        let watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if is_change(&event.kind) && concerns(&event, &seen) => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("while watching the configuration: {e}"),
            });
        match watcher {
            Ok(watcher) => {
                let mut watch = Self {
                    watcher,
                    names,
                    dirs: Vec::new(),
                    changes,
                };
                watch.update(settings);
                Some(watch)
            }
            Err(e) => {
                tracing::warn!(
                    "cannot watch the configuration ({e}): changes apply on SIGHUP only"
                );
                None
            }
        }
    }

    /// Follows a reload: watches the directories `settings` reads from, and
    /// stops watching those it no longer does. A directory that cannot be
    /// watched is tried again after the next reload.
    pub fn update(&mut self, settings: &Settings) {
        *self.names.write().unwrap_or_else(|e| e.into_inner()) = names(settings);
        let wanted = dirs(settings);
        for old in self.dirs.iter().filter(|d| !wanted.contains(d)) {
            let _ = self.watcher.unwatch(old);
        }
        let mut watched = Vec::with_capacity(wanted.len());
        for dir in wanted {
            if self.dirs.contains(&dir) {
                watched.push(dir);
                continue;
            }
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), "watching for changes");
                    watched.push(dir);
                }
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    "cannot watch ({e}): changes there apply on SIGHUP only"
                ),
            }
        }
        self.dirs = watched;
    }
}

/// Everything but reading: creation, removal, renames, writes, metadata.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether an event touches a file a snapshot reads: a key file (`*.pem`),
/// one of `names`, or an entry of Kubernetes' atomic writer (`..data`).
fn concerns(event: &Event, names: &RwLock<Vec<OsString>>) -> bool {
    let names = names.read().unwrap_or_else(|e| e.into_inner());
    event.paths.is_empty()
        || event.paths.iter().any(|path| {
            let Some(name) = path.file_name() else {
                return true;
            };
            name.as_encoded_bytes().starts_with(b"..")
                || path.extension().is_some_and(|e| e == "pem")
                || names.iter().any(|n| n == name)
        })
}

/// The file names a snapshot reads besides key files.
fn names(settings: &Settings) -> Vec<OsString> {
    inputs::files(settings)
        .into_iter()
        .filter_map(|(_, f)| f.file_name().map(OsString::from))
        .collect()
}

/// The directories a snapshot reads from, sorted, without duplicates.
fn dirs(settings: &Settings) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = inputs::files(settings)
        .into_iter()
        .map(|(_, f)| inputs::parent(f))
        .collect();
    dirs.push(inputs::key_dir(settings).to_path_buf());
    dirs.sort();
    dirs.dedup();
    dirs
}

/// A burst of file events is applied once: when 250 ms pass without
/// another, or 1 s after its first event if they keep coming.
#[derive(Default)]
pub struct Debounce {
    first: Option<tokio::time::Instant>,
    due: Option<tokio::time::Instant>,
}

impl Debounce {
    const QUIET: std::time::Duration = std::time::Duration::from_millis(250);
    const AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn event(&mut self) {
        let now = tokio::time::Instant::now();
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + Self::QUIET).min(first + Self::AT_MOST));
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Resolves when the pending burst is due; never when there is none.
    pub async fn settled(&self) {
        match self.due {
            Some(due) => tokio::time::sleep_until(due).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn only_files_a_snapshot_reads_are_changes() {
        let names = RwLock::new(vec![
            OsString::from("tokenmint.toml"),
            OsString::from("cert.pem"),
        ]);
        let write = EventKind::Modify(ModifyKind::Any);
        for relevant in [
            "/etc/tm/tokenmint.toml",
            "/etc/tm/keys/es256-abc.pem",
            "/etc/tm/..data",
            "/etc/tm/..2026_12_01_10_00_00.123",
        ] {
            assert!(concerns(&event(write, relevant), &names), "{relevant}");
        }
        for unrelated in [
            "/etc/tm/tokenmint.log",
            "/etc/tm/keys/es256-abc.pem.tmp",
            "/etc/tm/notes.txt",
        ] {
            assert!(!concerns(&event(write, unrelated), &names), "{unrelated}");
        }
        let created = EventKind::Create(CreateKind::File);
        assert!(concerns(&event(created, "/etc/tm/keys/new.pem"), &names));
    }
}
