// SPDX-License-Identifier: GPL-2.0

//! `coretakeover dump-key`: the administrator's key pair for encrypted
//! dumps, and a fresh data key for each arming.
//!
//! `dump-key new --private FILE` makes an X25519 key pair (`crypto_box`):
//! the private key goes to FILE (0600, created anew), the public key to
//! FILE.pub and standard output. Only the public key goes to the nodes.
//!
//! `dump-key arm --public FILE` makes a fresh 32-byte data key, seals it for
//! the public key (a libsodium sealed box) and writes key, public key and
//! sealed key to the module's `dump_key` (the module keeps the plain key
//! in memory for the next arming only). `coretakeover apply` does this
//! before every arming when `[dump] encrypt_to` is set.
//!
//! `savecore --key FILE` opens the sealed key with the private key and
//! decrypts the dump ([`DataKey::open`]).

use crate::error::Error;
use crate::output::{emit, Report};
use crate::private_file::{Policy, PrivateFile};
use coretakeover_core::dumpkey::{KeyBlock, KEY_SIZE, SEALED_KEY_SIZE};
use rand_core::OsRng;
use crypto_box::{PublicKey, SecretKey};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make the administrator's key pair: FILE (private, 0600) and FILE.pub.
    New {
        #[arg(long, value_name = "FILE")]
        private: PathBuf,
    },
    /// Give the module a fresh data key, sealed for the public key in FILE,
    /// for its next arming.
    Arm {
        #[arg(long, value_name = "FILE")]
        public: PathBuf,
    },
}

#[derive(Debug, Serialize)]
struct NewReport {
    private: String,
    public_file: String,
    public_key: String,
}

impl Report for NewReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "private key: {} (keep it off the nodes)", self.private)?;
        writeln!(out, "public key:  {} ({})", self.public_key, self.public_file)
    }
}

#[derive(Debug, Serialize)]
struct ArmReport {
    public_key: String,
    knob: String,
}

impl Report for ArmReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "a fresh data key, sealed for {}, waits in {} for the next arming", self.public_key, self.knob)
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let t = text.trim();
    if t.len() != 2 * N || !t.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Reads a key file: 64 hex digits. The text and the key are wiped when
/// dropped (`zeroize`: a wipe the compiler keeps).
fn read_key_file(path: &Path, what: &str) -> Result<Zeroizing<[u8; KEY_SIZE]>, Error> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?);
    unhex::<KEY_SIZE>(&text)
        .map(Zeroizing::new)
        .ok_or_else(|| Error::InvalidArgument { what: "key", reason: format!("{}: not a {what} key (64 hex digits)", path.display()) })
}

pub fn read_public(path: &Path) -> Result<PublicKey, Error> {
    Ok(PublicKey::from(*read_key_file(path, "public")?))
}

/// Reads the private key in `path`, refusing a file that anyone but its
/// owner may read or write (as ssh does): a key others could read is no
/// longer private.
pub fn read_private(path: &Path) -> Result<SecretKey, Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::Refused {
            path: path.to_path_buf(),
            reason: format!("the private key file is open to others (mode {:o}): chmod 600 it, and consider the key exposed", mode & 0o777),
        });
    }
    Ok(SecretKey::from(*read_key_file(path, "private")?))
}

/// A fresh data key sealed for `public`: the line the module's `dump_key`
/// takes ("KEY PUBLIC SEALED", hex).
/// The key, the line and the key's hex are wiped when dropped.
pub fn fresh_key_line(public: &PublicKey) -> Result<Zeroizing<String>, Error> {
    let mut key = Zeroizing::new([0u8; KEY_SIZE]);
    rand_core::RngCore::try_fill_bytes(&mut OsRng, &mut *key).map_err(|e| Error::InvalidArgument { what: "key", reason: format!("no randomness: {e}") })?;
    let sealed = public.seal(&mut OsRng, &*key).map_err(|_| Error::InvalidArgument { what: "key", reason: "sealing the data key failed".into() })?;
    if sealed.len() != SEALED_KEY_SIZE {
        return Err(Error::InvalidArgument { what: "key", reason: format!("a sealed key of {} bytes, not {SEALED_KEY_SIZE}", sealed.len()) });
    }
    let key_hex = Zeroizing::new(hex(&*key));
    Ok(Zeroizing::new(format!("{} {} {}\n", *key_hex, hex(public.as_bytes()), hex(&sealed))))
}

/// An encrypted dump's data key, opened; wiped when dropped.
pub struct DataKey(pub [u8; KEY_SIZE]);

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl DataKey {
    /// The key the chunks of the dump of `block` are encrypted with: this
    /// data key itself (a version 1 block), or the one derived from it for
    /// that arming (version 2: `coretakeover_core::dumpkey::arming_inputs`).
    pub fn for_chunks(self, block: &KeyBlock) -> Self {
        if !block.per_arming {
            return self;
        }
        let [first, second] = coretakeover_core::dumpkey::arming_inputs(&block.disk_uuid, block.armed_ns);
        let step = Zeroizing::new(hchacha20(&self.0, &first));
        Self(hchacha20(&step, &second))
    }

    /// Opens the key block's sealed key with the private key in `private`.
    pub fn open(block: &KeyBlock, private: &Path) -> Result<Self, String> {
        let secret = read_private(private).map_err(|e| e.to_string())?;
        if secret.public_key().as_bytes() != &block.public {
            return Err(format!(
                "{} is not the key this dump is sealed for: the dump is for public key {}, this key's is {}",
                private.display(),
                hex(&block.public),
                hex(secret.public_key().as_bytes())
            ));
        }
        let key = Zeroizing::new(secret.unseal(&block.sealed).map_err(|_| "the sealed data key does not open (damaged key block)".to_string())?);
        let key: [u8; KEY_SIZE] = key.as_slice().try_into().map_err(|_| "the sealed data key has the wrong length".to_string())?;
        Ok(Self(key))
    }
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Error> {
    match &args.command {
        Command::New { private } => {
            let secret = SecretKey::generate(&mut OsRng);
            let public = secret.public_key();
            let policy = Policy { force: false, shared_dir: false };
            let private_path = PrivateFile::write_all(private, policy, format!("{}\n", hex(&secret.to_bytes())).as_bytes())?;
            let pub_path = PathBuf::from(format!("{}.pub", private.display()));
            let pub_path = PrivateFile::write_all(&pub_path, policy, format!("{}\n", hex(public.as_bytes())).as_bytes())?;
            emit(
                &NewReport { private: private_path.display().to_string(), public_file: pub_path.display().to_string(), public_key: hex(public.as_bytes()) },
                args.json,
                out,
            )
        }
        Command::Arm { public } => {
            let public = read_public(public)?;
            let line = fresh_key_line(&public)?;
            let knob = Path::new(crate::status::SYSFS_DIR).join("dump_key");
            if !knob.parent().is_some_and(Path::exists) {
                return Err(Error::NotLoaded(knob.parent().map(Path::to_path_buf).unwrap_or_default()));
            }
            std::fs::write(&knob, line.as_bytes()).map_err(|source| Error::Io { path: knob.clone(), source })?;
            emit(&ArmReport { public_key: hex(public.as_bytes()), knob: knob.display().to_string() }, args.json, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coretakeover_core::dumpkey::DumpKey;

    #[test]
    fn hchacha20_is_the_xchacha_drafts_and_each_arming_gets_its_own_chunk_key() {
        // draft-irtf-cfrg-xchacha-03, 2.2.1.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let input = [0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0, 0x31, 0x41, 0x59, 0x27];
        assert_eq!(hex(&hchacha20(&key, &input)), "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
        let block = |armed_ns, per_arming| KeyBlock { disk_uuid: [1; 16], armed_ns, public: [2; 32], sealed: [3; 80], per_arming };
        let a = DataKey(key).for_chunks(&block(5, true)).0;
        let b = DataKey(key).for_chunks(&block(6, true)).0;
        assert_ne!(a, key);
        assert_ne!(a, b, "the same data key armed again: another chunk key");
        assert_eq!(DataKey(key).for_chunks(&block(5, false)).0, key, "an older module's dump: the data key");
    }

    #[test]
    fn a_fresh_key_line_is_what_the_module_parses_and_opens_with_the_private_key() {
        let secret = SecretKey::generate(&mut OsRng);
        let line = fresh_key_line(&secret.public_key()).unwrap();
        let key = DumpKey::parse(&line).unwrap();
        assert_eq!(&key.public, secret.public_key().as_bytes());
        let dir = std::env::temp_dir().join(format!("ct-dumpkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let private = dir.join("admin.key");
        let write_private = |path: &Path, text: String| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(path, text).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        write_private(&private, format!("{}\n", hex(&secret.to_bytes())));
        let block = KeyBlock { disk_uuid: [1; 16], armed_ns: 5, public: key.public, sealed: key.sealed, per_arming: true };
        assert_eq!(DataKey::open(&block, &private).unwrap().0, key.key);
        // Two armings never share a key.
        assert_ne!(DumpKey::parse(&fresh_key_line(&secret.public_key()).unwrap()).unwrap().key, key.key);
        // Another private key is refused by name.
        let other = dir.join("other.key");
        write_private(&other, format!("{}\n", hex(&SecretKey::generate(&mut OsRng).to_bytes())));
        let e = DataKey::open(&block, &other).err().unwrap();
        assert!(e.contains("is not the key this dump is sealed for") && e.contains(&hex(&key.public)), "{e}");
        write_private(&other, "not hex\n".into());
        assert!(DataKey::open(&block, &other).err().unwrap().contains("not a private key"));
        // A private key others may read is refused, and says why.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let e = DataKey::open(&block, &private).err().unwrap();
        assert!(e.contains("open to others (mode 640)"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// HChaCha20 of `input` under `key` (the subkey step of XChaCha20).
pub fn hchacha20(key: &[u8; KEY_SIZE], input: &[u8; 16]) -> [u8; KEY_SIZE] {
    let out = chacha20::hchacha::<chacha20::cipher::consts::U10>(key.into(), input.into());
    out.into()
}
