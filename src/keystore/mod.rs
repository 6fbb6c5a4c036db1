//! Where an account's long-lived secret key lives besides the seed's plain file (DESIGN §13):
//! an age file (`age_file`, unlocked by a passphrase asked with `passphrase`, or by identity
//! files) or the user's vault through a command (`key_process`). These are the stores the key
//! store seam (`keys/`) chooses from; they read nothing until asked, so a cache hit touches
//! none of them.
#![forbid(unsafe_code)]

pub mod add;
pub mod age_file;
pub mod key_process;
pub mod passphrase;
